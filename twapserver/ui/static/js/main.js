// Wiring of the dashboard: login, market pickers, /ws stream, order form, orders.
import { api, login, logout, tokens } from "./api.js";
import { KlinesChart, renderBook } from "./market.js";
import { OrderForm } from "./orderform.js";
import { Orders } from "./orders.js";
import { Stream } from "./stream.js";

const $ = (id) => document.getElementById(id);
const KLINES_REFRESH_MS = 15000;

function market() {
  return { exchange: $("exchange").value, symbol: $("symbol").value };
}

function options(select, values) {
  select.replaceChildren(...values.map((value) => new Option(value, value)));
}

async function start() {
  $("login-panel").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("session").textContent = `logged in as ${tokens()?.username ?? "?"}`;

  const chart = new KlinesChart($("klines"), $("klines-note"));
  let shownFills = [];
  const orders = new Orders(
    {
      list: $("orders"), empty: $("orders-empty"), panel: $("detail"), title: $("detail-title"),
      summary: $("detail-summary"), progress: $("progress"), fills: $("fills"), slices: $("slices"),
      venues: $("venues"), venuesTitle: $("venues-title"), cancel: $("cancel"), error: $("detail-error"),
    },
    (fills, detail) => {
      const { exchange, symbol } = market();
      // the chart is one venue's: a cross-venue order's fills on that venue
      shownFills = detail.symbol === symbol ? fills.filter((f) => (f.venue || detail.exchange) === exchange) : [];
      chart.showFills(shownFills);
    },
  );
  $("detail-title").tabIndex = -1;

  const stream = new Stream(
    (message) => {
      if (message.type === "book") {
        const { exchange, symbol } = market();
        if (message.exchange === exchange && message.symbol === symbol) renderBook($("book"), $("book-time"), message);
      } else if (message.type === "error") {
        $("stream-status").textContent = `stream: ${message.message}`;
      } else {
        orders.onMessage(message);
      }
    },
    (status) => { $("stream-status").textContent = `stream: ${status}`; },
  );

  const exchanges = await api("/exchanges");
  options($("exchange"), exchanges.map((e) => e.name));

  const showChart = () => chart.load($("exchange").value, $("symbol").value, $("interval").value)
    .then(() => chart.showFills(shownFills))
    .catch((error) => { $("stream-status").textContent = `klines: ${error.message}`; });

  const pickSymbol = () => {
    stream.unsubscribe("book");
    $("book").tBodies[0].replaceChildren();
    $("book-time").textContent = "waiting for the book…";
    stream.subscribe("book", { channel: "book", ...market() });
    shownFills = [];
    showChart();
  };
  const pickExchange = () => {
    const chosen = exchanges.find((e) => e.name === $("exchange").value);
    options($("symbol"), chosen ? chosen.symbols : []);
    pickSymbol();
  };
  $("exchange").addEventListener("change", pickExchange);
  $("symbol").addEventListener("change", pickSymbol);
  $("interval").addEventListener("change", showChart);
  setInterval(showChart, KLINES_REFRESH_MS);

  stream.subscribe("orders", { channel: "orders" });
  stream.open();
  pickExchange();

  const venuesOf = (symbol) => exchanges.filter((e) => e.symbols.includes(symbol)).map((e) => e.name);
  const form = new OrderForm($("order-form"), $("algorithm"), market, venuesOf, (answer) => {
    orders.upsert(answer.order);
    orders.show(answer.order.token_id);
  });
  for (const picker of ["exchange", "symbol"]) $(picker).addEventListener("change", () => form.showVenues());
  await Promise.all([form.load(), orders.load()]);
  $("logout").onclick = () => {
    stream.close();
    logout();
    location.reload();
  };
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await login($("login-username").value, $("login-password").value);
    await start();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

if (tokens()) start().catch(() => { logout(); location.reload(); });
else $("login-username").focus();
