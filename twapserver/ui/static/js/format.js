// Display helpers shared by the panels.

/** A decimal string without trailing-zero noise ("61826.89000000" -> "61826.89"). */
export function num(value) {
  if (value === null || value === undefined) return "–";
  const text = String(value);
  return text.includes(".") && !/e/i.test(text) ? text.replace(/\.?0+$/, "") : text;
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
