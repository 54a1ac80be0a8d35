// Display helpers shared by the panels.

/** A decimal string without trailing-zero noise ("61826.89000000" -> "61826.89"), cut
 * to `places` decimals when given (for computed figures such as a VWAP). */
export function num(value, places) {
  if (value === null || value === undefined) return "–";
  let text = String(value);
  if (/e/i.test(text) || !text.includes(".")) return text;
  if (places !== undefined) text = text.slice(0, text.indexOf(".") + 1 + places);
  return text.replace(/\.?0+$/, "");
}

/** "HH:MM:SS" (UTC) of a time in ns since the epoch. */
export function clock(ns) {
  return ns ? new Date(Number(BigInt(ns) / 1000000n)).toISOString().slice(11, 19) : "–";
}

/** A new element with text content and attributes. */
export function el(tag, text = "", attributes = {}) {
  const node = document.createElement(tag);
  node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

/** A table row of text cells. */
export function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(cell instanceof Node ? wrap(cell) : el("td", cell));
  return tr;
}

function wrap(node) {
  const td = document.createElement("td");
  td.append(node);
  return td;
}
