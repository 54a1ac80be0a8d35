// The market panel: top-10 book with cumulative depth (from /ws) and the klines chart
// (GET /klines), with this session's fills of the shown symbol as chart markers.
import {
  CandlestickSeries,
  createChart,
  createSeriesMarkers,
} from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { api } from "./api.js";
import { clock, num, row } from "./format.js";

const LEVELS = 10;
const INTERVAL_S = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600 };

function decimals(text) {
  const point = text.indexOf(".");
  return point < 0 ? 0 : text.length - point - 1;
}

/** Running totals of the sizes of `levels` ([[price, qty], …]), as fixed-point strings. */
export function cumulative(levels) {
  const places = Math.max(0, ...levels.map(([, qty]) => decimals(qty)));
  let total = 0;
  return levels.map(([, qty]) => (total += Number(qty)).toFixed(places));
}

/** Fill the book table with the top levels of a /ws book message. */
export function renderBook(table, timeLabel, book) {
  const bids = book.bids.slice(0, LEVELS);
  const asks = book.asks.slice(0, LEVELS);
  const bidTotals = cumulative(bids);
  const askTotals = cumulative(asks);
  const body = table.tBodies[0];
  const rows = [];
  for (let i = 0; i < Math.max(bids.length, asks.length); i += 1) {
    const [bid, bidQty] = bids[i] || ["", ""];
    const [ask, askQty] = asks[i] || ["", ""];
    rows.push(row([bidTotals[i] || "", num(bidQty), num(bid), num(ask), num(askQty), askTotals[i] || ""]));
  }
  body.replaceChildren(...rows);
  table.dataset.exchange = book.exchange;
  table.dataset.symbol = book.symbol;
  table.dataset.seq = String(book.seq ?? book.ts_event);
  timeLabel.textContent = `${book.exchange} ${book.symbol} · ${clock(book.ts_event)} UTC`;
}

/** The candlestick chart of one symbol at one interval, with fill markers. */
export class KlinesChart {
  constructor(container, note) {
    this.container = container;
    this.note = note;
    this.chart = createChart(container, {
      autoSize: true,
      layout: { background: { color: "#ffffff" }, textColor: "#1b1f24" },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    this.series = this.chart.addSeries(CandlestickSeries, {});
    this.markers = createSeriesMarkers(this.series, []);
  }

  /** Load the last candles of `exchange`/`symbol` at `interval` (e.g. "1m"). */
  async load(exchange, symbol, interval) {
    const path = `/klines/${encodeURIComponent(exchange)}/${encodeURIComponent(symbol)}`;
    const asked = (this.asked = `${path}?interval=${interval}&limit=300`);
    const candles = await api(asked);
    if (asked !== this.asked) return; // the user picked another symbol meanwhile
    this.intervalS = INTERVAL_S[interval] || 60;
    this.container.classList.toggle("empty", !candles.length);
    this.note.textContent = candles.length
      ? ""
      : `no ${interval} candles for ${exchange} ${symbol} yet (candles come from trades)`;
    this.series.setData(
      candles.map((c) => ({
        time: Math.floor(c.open_ns / 1e9),
        open: Number(c.open),
        high: Number(c.high),
        low: Number(c.low),
        close: Number(c.close),
      })),
    );
    this.chart.timeScale().fitContent();
  }

  /** Show `fills` ({ts_ns, price, qty, side}) on the chart, each on its candle. */
  showFills(fills) {
    const step = this.intervalS || 60;
    const markers = fills
      .map((fill) => ({
        time: Math.floor(Number(BigInt(fill.ts_ns) / 1000000000n) / step) * step,
        position: fill.side === "buy" ? "belowBar" : "aboveBar",
        color: fill.side === "buy" ? "#1a7f37" : "#cf222e",
        shape: fill.side === "buy" ? "arrowUp" : "arrowDown",
        text: `${fill.side} ${num(fill.qty)} @ ${num(fill.price)}`,
      }))
      .sort((a, b) => a.time - b.time);
    this.markers.setMarkers(markers);
  }
}
