// The orders list (GET /orders, then live from the /ws orders channel) and the detail
// of one order (GET /orders/{token_id}: fills, slices, analytics, per-venue rows of a
// cross-venue order) with cancel.
import { api, ApiError } from "./api.js";
import { clock, el, num, row } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const FINAL = new Set(["completed", "cancelled", "expired", "rejected"]);

function path(points, width, height, maxX, maxY) {
  return points
    .map(([x, y], i) => `${i ? "L" : "M"}${((x / maxX) * width).toFixed(1)},${(height - (y / maxY) * height).toFixed(1)}`)
    .join(" ");
}

/** Step curves of planned (schedule) and filled (fills) quantity over the order's life. */
export function progressCurves(detail) {
  const start = BigInt(detail.created_ns);
  const seconds = (ns) => Number((BigInt(ns) - start) / 1000000n) / 1000;
  let planned = 0;
  let filled = 0;
  const plannedPoints = [[0, 0]];
  for (const step of detail.schedule) {
    if (Number(step.qty) === 0) continue; // e.g. pov plans nothing ahead: only its life's cap
    plannedPoints.push([seconds(step.due_ns), planned]);
    plannedPoints.push([seconds(step.due_ns), (planned += Number(step.qty))]);
  }
  const filledPoints = [[0, 0]];
  for (const fill of detail.fills) {
    filledPoints.push([seconds(fill.ts_ns), filled]);
    filledPoints.push([seconds(fill.ts_ns), (filled += Number(fill.qty))]);
  }
  return { planned: plannedPoints, filled: filledPoints, quantity: Number(detail.quantity) };
}

function drawProgress(svg, detail) {
  const { planned, filled, quantity } = progressCurves(detail);
  const end = Math.max(1e-3, ...planned.map(([x]) => x), ...filled.map(([x]) => x));
  const line = (points, cls) => {
    const node = document.createElementNS(SVG, "path");
    node.setAttribute("d", path(points, 400, 150, end, quantity || 1));
    node.setAttribute("class", cls);
    node.setAttribute("transform", "translate(0,5)");
    return node;
  };
  const text = (x, y, content, anchor = "start") => {
    const node = document.createElementNS(SVG, "text");
    node.setAttribute("x", x);
    node.setAttribute("y", y);
    node.setAttribute("text-anchor", anchor);
    node.textContent = content;
    return node;
  };
  svg.replaceChildren(
    line(planned, "planned"),
    line(filled, "filled"),
    text(4, 14, `planned (dashed) vs filled: ${num(detail.filled_qty)} / ${num(detail.quantity)}`),
    text(396, 156, `${end.toFixed(1)} s after submission`, "end"),
  );
}

/** "binance BTC-USDT", or "binance+kraken BTC-USDT" for a cross-venue order. */
export function marketText(order) {
  return `${(order.venues || [order.exchange]).join("+")} ${order.symbol}`;
}

export class Orders {
  /** `elements`: the list table, its empty note and the detail panel's parts;
   * `onFills(fills)` gets the shown order's fills (for the price chart). */
  constructor(elements, onFills) {
    this.e = elements;
    this.onFills = onFills;
    this.rows = new Map();
    this.selected = null;
    this.pending = null;
    this.e.cancel.addEventListener("click", () => this.cancel());
  }

  async load() {
    const { orders } = await api("/orders?limit=100", { auth: true });
    for (const order of orders.reverse()) this.upsert(order);
  }

  /** Add or update the row of `order` (a GET /orders item or a /ws order message). */
  upsert(order) {
    const known = this.rows.get(order.token_id) || {};
    // GET /orders and the /ws snapshot race at start: never step back to an older state.
    const older = order.slices_done < known.slices_done || (FINAL.has(known.status) && !FINAL.has(order.status));
    if (older) return;
    const merged = { ...known, ...order };
    if (merged.quantity === undefined && order.remaining_qty !== undefined) {
      merged.quantity = String(Number(order.filled_qty) + Number(order.remaining_qty));
    }
    this.rows.set(order.token_id, merged);
    const body = this.e.list.tBodies[0];
    let tr = body.querySelector(`tr[data-token="${CSS.escape(order.token_id)}"]`);
    const progress = el("progress", "", { max: merged.quantity || 1, value: merged.filled_qty || 0 });
    progress.setAttribute("aria-label", `filled ${num(merged.filled_qty)} of ${num(merged.quantity)}`);
    const label = el("span", ` ${num(merged.filled_qty)}/${num(merged.quantity)} · ${merged.slices_done}/${merged.slices_total} slices`);
    const cell = el("span");
    cell.append(progress, label);
    const open = el("button", "Details", { type: "button", "aria-label": `details of ${order.token_id}` });
    open.addEventListener("click", () => this.show(order.token_id));
    const fresh = row([merged.token_id, marketText(merged), merged.side, merged.status, cell, num(merged.average_price), open]);
    fresh.dataset.token = merged.token_id;
    fresh.dataset.status = merged.status;
    if (merged.venues) fresh.dataset.venues = merged.venues.join(",");
    if (tr) tr.replaceWith(fresh);
    else body.prepend(fresh);
    tr = fresh;
    this.e.empty.hidden = true;
    if (this.selected === order.token_id) this.refreshDetail();
  }

  /** A /ws message of the orders channel. */
  onMessage(message) {
    if (message.type === "order") this.upsert(message);
  }

  async show(tokenId) {
    this.selected = tokenId;
    this.e.panel.hidden = false;
    await this.refreshDetail();
    this.e.title.focus();
  }

  refreshDetail() {
    // One request at a time; updates that arrive meanwhile ask for one more after it,
    // so the last state shown is never older than the last update.
    if (this.pending) {
      this.again = true;
      return this.pending;
    }
    this.pending = this.fetchDetail().finally(() => {
      this.pending = null;
      if (this.again) {
        this.again = false;
        this.refreshDetail();
      }
    });
    return this.pending;
  }

  async fetchDetail() {
    const tokenId = this.selected;
    const detail = await api(`/orders/${encodeURIComponent(tokenId)}`, { auth: true });
    if (tokenId !== this.selected) return;
    const a = detail.analytics || {};
    this.e.title.textContent = `Order ${detail.token_id}`;
    this.e.panel.dataset.token = detail.token_id;
    this.e.panel.dataset.status = detail.status;
    this.e.panel.dataset.venues = (detail.venues || [detail.exchange]).join(",");
    const facts = [
      ["market", marketText(detail)], ["side", detail.side], ["status", detail.status],
      ["filled", `${num(detail.filled_qty)} of ${num(detail.quantity)}`], ["slices", `${detail.slices_done}/${detail.slices_total}`],
      ["average price", num(detail.average_price)], ["limit", num(detail.limit_price)],
      ["arrival mid", num(a.arrival_mid)], ["slippage vs arrival (bps)", num(a.slippage_bps)],
      ["market VWAP", num(a.market_vwap, 8)], ["slippage vs VWAP (bps)", num(a.vwap_slippage_bps)],
      ["participation", num(a.participation_rate)], ["algorithm", a.algorithm || "twap"],
    ];
    const list = el("dl", "", { class: "facts" });
    for (const [term, value] of facts) list.append(el("dt", term), el("dd", value));
    this.e.summary.replaceChildren(list);
    drawProgress(this.e.progress, detail);
    const slippage = new Map((a.fills || []).map((f) => [`${f.slice_index}:${f.ts_ns}`, f.slippage_bps]));
    this.e.fills.tBodies[0].replaceChildren(
      ...detail.fills.map((f) => row([String(f.slice_index), clock(f.ts_ns), f.venue || detail.exchange, num(f.price), num(f.qty), num(slippage.get(`${f.slice_index}:${f.ts_ns}`))])),
    );
    const venues = a.venues || [];
    this.e.venues.hidden = this.e.venuesTitle.hidden = venues.length === 0;
    this.e.venues.tBodies[0].replaceChildren(
      ...venues.map((v) => row([v.venue, String(v.fills_count), num(v.filled_qty), num(v.average_price, 8), num(v.slippage_bps), num(v.share)])),
    );
    this.e.slices.tBodies[0].replaceChildren(
      ...detail.slices.map((s) => row([String(s.index), clock(s.due_ns), num(s.target_qty), num(s.filled_qty), s.reason ? `${s.status} (${s.reason})` : s.status])),
    );
    this.e.cancel.disabled = FINAL.has(detail.status);
    this.onFills(detail.fills.map((f) => ({ ...f, side: detail.side })), detail);
  }

  async cancel() {
    this.e.error.textContent = "";
    try {
      const answer = await api(`/orders/${encodeURIComponent(this.selected)}`, { method: "DELETE", auth: true });
      this.upsert(answer.order || answer);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      this.e.error.textContent = error.message;
    }
    await this.refreshDetail();
  }
}
