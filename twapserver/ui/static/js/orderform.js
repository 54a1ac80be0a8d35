// The order form, built from what the server says it takes, so an algorithm added to the
// server appears here without a change: with `GET /algorithms`, each listed algorithm is
// a `POST /orders` body with `"algorithm": name`, the shared fields and its own
// parameters; without it, from the OpenAPI document alone, every `POST /orders/<name>`
// is an algorithm, and so is every variant of a discriminated union `POST /orders` body. Rejections are shown next to the field they
// name (`detail[].loc`, or the field a rejection message starts with). A `venues` field
// (cross-venue orders) is a checkbox per exchange that lists the chosen symbol.
import { api, ApiError } from "./api.js";
import { el } from "./format.js";

const MARKET_FIELDS = new Set(["exchange", "symbol"]); // taken from the market pickers

function resolve(document, schema) {
  return schema && schema.$ref ? document.components.schemas[schema.$ref.split("/").pop()] : schema;
}

/** The discriminator value naming one variant of a union body. */
function variantName(document, union, variant, ref) {
  const property = union.discriminator.propertyName;
  const mapping = Object.entries(union.discriminator.mapping || {}).find(([, target]) => target === ref);
  if (mapping) return mapping[0];
  const schema = resolve(document, variant.properties?.[property]) || {};
  return schema.const ?? schema.enum?.[0] ?? schema.default;
}

/** The algorithms of `GET /algorithms` (`[{name, description, parameters: [{name,
 * required}], required_fields}]`) as forms over the `POST /orders` schema: the fields no
 * algorithm owns, plus the algorithm's own parameters; required as `required_fields`
 * says (pov may leave out duration_s), else the schema's and the required parameters. */
function fromList(document, listed) {
  const content = document.paths["/orders"].post.requestBody.content["application/json"];
  const schema = resolve(document, content.schema);
  const owned = new Set(listed.flatMap((algorithm) => algorithm.parameters.map((p) => p.name)));
  const found = {};
  for (const algorithm of listed) {
    const own = new Set(algorithm.parameters.map((p) => p.name));
    const properties = Object.fromEntries(
      Object.entries(schema.properties).filter(([name]) => name !== "algorithm" && (!owned.has(name) || own.has(name))),
    );
    const required = algorithm.required_fields || [
      ...(schema.required || []),
      ...algorithm.parameters.filter((p) => p.required).map((p) => p.name),
    ];
    found[algorithm.name] = {
      path: "/orders",
      schema: { ...schema, properties, required },
      fixed: { algorithm: algorithm.name },
      description: algorithm.description,
    };
  }
  return found;
}

/** {name: {path, schema, fixed, description}} of every algorithm the server offers;
 * `fixed` are body fields the choice of algorithm sets. */
export async function algorithms() {
  const document = await api("/openapi.json");
  if (document.paths["/algorithms"]?.get && document.paths["/orders"]?.post) {
    return fromList(document, await api("/algorithms"));
  }
  const found = {};
  for (const [path, item] of Object.entries(document.paths)) {
    const content = item.post?.requestBody?.content?.["application/json"];
    if (!content || !/^\/orders(\/[a-z0-9_]+)?$/.test(path)) continue;
    const schema = resolve(document, content.schema);
    const union = schema.oneOf || schema.anyOf;
    if (union && schema.discriminator) {
      for (const member of union) {
        const variant = resolve(document, member);
        const name = variantName(document, schema, variant, member.$ref);
        const fixed = { [schema.discriminator.propertyName]: name };
        if (name) found[name] = { path, schema: variant, fixed };
      }
    } else if (path !== "/orders") {
      found[path.split("/").pop()] = { path, schema, fixed: {} };
    }
  }
  return found;
}

function variants(property) {
  return property.anyOf ? property.anyOf : [property];
}

function allows(property, type) {
  return variants(property).some((variant) => variant.type === type);
}

function defaultValue(name, property) {
  if (name === "token_id") return `ui-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  return property.default ?? "";
}

/** "duration_s" -> "duration (s)", "limit_price" -> "limit price". */
function labelText(name) {
  return name.replace(/_s$/, " (s)").replaceAll("_", " ");
}

/** The `venues` field: a checkbox per venue of the chosen symbol (filled by
 * `OrderForm.showVenues`), with its hint and error slot. */
function venuesField(property) {
  const id = "field-venues";
  const wrapper = el("fieldset", "", { id, class: "field venues" });
  const choices = el("div", "", { class: "choices" });
  const error = el("p", "", { id: `${id}-error`, class: "error field-error", "aria-live": "polite" });
  const hint = el("p", property.description || "", { id: `${id}-hint`, class: "hint" });
  wrapper.setAttribute("aria-describedby", `${id}-error ${id}-hint`);
  wrapper.append(el("legend", "venues (cross-venue)"), choices, error, hint);
  return wrapper;
}

/** A labelled input for one schema property, with its hint and error slot. */
function field(name, property, required) {
  const id = `field-${name}`;
  const wrapper = el("div", "", { class: "field" });
  const label = el("label", labelText(name), { for: id });
  if (required) label.append(el("span", " *", { "aria-hidden": "true" }));
  const enums = variants(property).find((variant) => variant.enum)?.enum;
  let input;
  if (enums) {
    input = el("select", "", { id, name });
    for (const value of enums) input.append(el("option", value, { value }));
    if (property.default) input.value = property.default;
  } else {
    input = el("input", "", { id, name, autocomplete: "off" });
    input.value = defaultValue(name, property);
    if (allows(property, "number") || allows(property, "integer")) input.inputMode = "decimal";
  }
  if (required) input.required = true;
  const error = el("p", "", { id: `${id}-error`, class: "error field-error", "aria-live": "polite" });
  const hint = el("p", property.description || "", { id: `${id}-hint`, class: "hint" });
  input.setAttribute("aria-describedby", `${id}-error ${id}-hint`);
  wrapper.append(label, input, error, hint);
  return wrapper;
}

/** The JSON value of an input: integers as numbers where the schema wants a JSON integer
 * (anything else is sent as typed, for the server to name what is wrong with it). */
function value(property, text) {
  if (allows(property, "integer") && !allows(property, "string") && /^-?\d+$/.test(text)) {
    return Number(text);
  }
  return text;
}

export class OrderForm {
  /** `market()` gives the chosen {exchange, symbol}; `venuesOf(symbol)` the exchanges
   * listing it; `onSubmitted(answer)` gets a 201 body. */
  constructor(form, picker, market, venuesOf, onSubmitted) {
    this.form = form;
    this.picker = picker;
    this.market = market;
    this.venuesOf = venuesOf;
    this.onSubmitted = onSubmitted;
    this.algorithms = {};
    picker.addEventListener("change", () => this.build());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  async load() {
    this.algorithms = await algorithms();
    this.picker.replaceChildren(...Object.keys(this.algorithms).map((name) => el("option", name, { value: name })));
    this.build();
  }

  build() {
    const { schema } = this.algorithms[this.picker.value];
    const required = new Set(schema.required || []);
    const { fixed } = this.algorithms[this.picker.value];
    const fields = Object.entries(schema.properties)
      .filter(([name]) => !MARKET_FIELDS.has(name) && !(name in fixed))
      .map(([name, property]) => (name === "venues" ? venuesField(property) : field(name, property, required.has(name))));
    this.status = el("p", "", { class: "form-status", role: "status" });
    this.formError = el("p", "", { class: "error", role: "alert" });
    const about = el("p", this.algorithms[this.picker.value].description || "", { class: "hint about" });
    const button = el("button", `Submit ${this.picker.value.toUpperCase()}`, { type: "submit" });
    this.form.replaceChildren(about, ...fields, button, this.formError, this.status);
    this.showVenues();
  }

  /** One checkbox per exchange listing the chosen symbol; ticked ones stay ticked. */
  showVenues() {
    const choices = this.form.querySelector("#field-venues .choices");
    if (!choices) return;
    const { exchange, symbol } = this.market();
    const ticked = new Set(this.chosenVenues());
    const venues = this.venuesOf(symbol);
    const boxes = venues.map((venue) => {
      const box = el("input", "", { type: "checkbox", name: "venue", value: venue, id: `field-venues-${venue}` });
      box.checked = ticked.has(venue);
      const label = el("label", "", { for: box.id });
      label.append(box, ` ${venue}`);
      return label;
    });
    const note = venues.length < 2
      ? `only ${venues.join(", ") || "no exchange"} lists ${symbol}: a cross-venue order needs two`
      : `tick two or more to trade ${symbol} on their consolidated book; none: ${exchange} alone`;
    choices.replaceChildren(...boxes, el("span", note, { class: "muted" }));
  }

  chosenVenues() {
    return [...this.form.querySelectorAll("input[name=venue]:checked")].map((box) => box.value);
  }

  clearErrors() {
    for (const node of this.form.querySelectorAll(".field-error")) node.textContent = "";
    for (const node of this.form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    this.formError.textContent = "";
    this.status.textContent = "";
  }

  /** Put `message` next to the input called `name`; false when there is no such input. */
  showError(name, message) {
    const input = this.form.querySelector(`#field-${CSS.escape(name)}`);
    if (!input) return false;
    input.setAttribute("aria-invalid", "true");
    this.form.querySelector(`#field-${CSS.escape(name)}-error`).textContent = message;
    return true;
  }

  async submit() {
    this.clearErrors();
    const { path, schema, fixed } = this.algorithms[this.picker.value];
    const body = { ...this.market(), ...fixed };
    for (const [name, property] of Object.entries(schema.properties)) {
      const input = this.form.elements.namedItem(name);
      if (!input || input.value.trim() === "") continue;
      body[name] = value(property, input.value.trim());
    }
    const venues = this.chosenVenues();
    if (venues.length === 1) {
      this.showError("venues", `tick two or more venues, or none to trade ${body.exchange} alone`);
      return;
    }
    if (venues.length) {
      // The order's exchange is its first venue: the picked one when it is ticked.
      const first = venues.includes(body.exchange) ? [body.exchange] : [];
      body.venues = [...first, ...venues.filter((venue) => venue !== body.exchange)];
      delete body.exchange;
    }
    try {
      const answer = await api(path, { method: "POST", body, auth: true });
      this.status.textContent = `accepted ${answer.token_id}`;
      this.form.elements.namedItem("token_id").value = defaultValue("token_id", {});
      this.onSubmitted(answer);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      this.showRejection(error.body, error.message);
    }
  }

  showRejection(body, message) {
    let placed = false;
    for (const problem of Array.isArray(body.detail) ? body.detail : []) {
      const loc = problem.loc || [];
      const name = loc[loc.length - 1];
      placed = this.showError(String(name), problem.msg) || placed;
    }
    // Engine rejections name the field first: "quantity 0.000001 is below the lot size …".
    const first = /^([a-z_]+)\b/.exec(message || "");
    if (!placed && first) placed = this.showError(first[1], message);
    if (!placed) this.formError.textContent = message;
    const invalid = this.form.querySelector("[aria-invalid]");
    if (invalid) invalid.focus();
  }
}
