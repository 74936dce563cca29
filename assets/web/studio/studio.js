// demoreel studio: pick a template, edit its content and style in a form made from its
// JSON Schemas, and see the card at any moment of its timeline. Every preview is
// rendered by the server (POST /v1/templates/preview); the server's validation is the
// only validation, and its 400 details are shown at the field they name.
"use strict";

const $ = (selector) => document.querySelector(selector);
const studio = {
  // A short-lived link from `demoreel studio link` carries a token in the fragment
  // (never sent to a server by the browser); otherwise the person gives an API key.
  token: new URLSearchParams(location.hash.slice(1)).get("token"),
  key: sessionStorage.getItem("demoreel-key") || "",
  templates: [],
  template: null,
  asked: 0, // previews asked for, numbered; an answer older than one already shown
  answered: 0, // (or already marked as an error) is dropped

  debounce: null,
  objectUrl: null,
};

function credentials() {
  return studio.token ? { "x-studio-token": studio.token } : { "x-api-key": studio.key };
}

async function call(method, path, body) {
  const headers = { ...credentials() };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

function status(text, bad = false) {
  $("#status").textContent = text;
  $("#status").classList.toggle("bad", bad);
}

async function messageOf(response) {
  try {
    const body = await response.json();
    return body.message || response.statusText;
  } catch (_) {
    return `${response.status} ${response.statusText}`;
  }
}

async function connect() {
  const response = await call("GET", "/v1/templates");
  if (!response.ok) {
    status(response.status === 401 ? "That key is not valid (or the link has expired)." : await messageOf(response), true);
    return;
  }
  studio.templates = (await response.json()).data;
  if (!studio.token) sessionStorage.setItem("demoreel-key", studio.key);
  const select = $("#template");
  select.innerHTML = "";
  for (const origin of ["built-in", "own"]) {
    const group = document.createElement("optgroup");
    group.label = origin === "own" ? "Your templates" : "Built-in";
    for (const t of studio.templates.filter((t) => t.origin === origin)) {
      const option = new Option(`${t.name} (v${t.version})`, t.reference);
      group.append(option);
    }
    if (group.children.length) select.append(group);
  }
  select.disabled = false;
  $("#play").disabled = false;
  status(`${studio.templates.length} templates`);
  choose(select.value);
}

function choose(reference) {
  const template = studio.templates.find((t) => t.reference === reference);
  if (!template) return;
  studio.template = template;
  $("#description").textContent = template.description;
  const at = $("#at");
  at.max = template.duration_ms;
  at.value = Math.round(template.duration_ms * 0.6);
  buildForm(template);
  preview();
}

// The schema a `$ref` points at, within the part's own `$defs`.
function resolve(schema, root) {
  let seen = 0;
  while (schema && schema.$ref && seen++ < 8) {
    schema = (root.$defs || {})[schema.$ref.replace("#/$defs/", "")];
  }
  return schema || {};
}

const isColour = (schema) => typeof schema.pattern === "string" && schema.pattern.includes("#[0-9A-Fa-f]{6}");
const isBackground = (schema) => Array.isArray(schema.oneOf) && schema.oneOf.some((o) => o.properties && o.properties.type && o.properties.type.const);

function buildForm(template) {
  const form = $("#fields");
  form.innerHTML = "";
  const example = (template.example && template.example.content) || {};
  for (const part of ["content", "style"]) {
    const root = template[part] || {};
    const properties = Object.entries(root.properties || {});
    if (!properties.length) continue;
    const fieldset = document.createElement("fieldset");
    fieldset.innerHTML = `<legend>${part}</legend>`;
    const defaults = (template.defaults && template.defaults[part]) || {};
    for (const [name, declared] of properties) {
      const value = part === "content" && name in example ? example[name] : defaults[name];
      fieldset.append(field(`${part}.${name}`, name, resolve(declared, root), declared.description, value, root));
    }
    form.append(fieldset);
  }
}

// One field: a container named by the request path it fills (`style.textColor`), an
// input that knows how to read itself back, and a place for the server's error.
function field(path, name, schema, description, value, root) {
  const box = document.createElement("div");
  box.className = "field";
  box.dataset.field = path;
  const id = `f-${path.replace(/[^a-zA-Z0-9]/g, "-")}`;
  box.innerHTML = `<label for="${id}"></label>`;
  box.querySelector("label").textContent = name;
  let read;
  if (isColour(schema)) {
    [read] = colourInput(box, id, value);
  } else if (isBackground(schema)) {
    read = backgroundInput(box, id, schema, value, root);
  } else if (Array.isArray(schema.enum)) {
    const select = document.createElement("select");
    select.id = id;
    for (const option of schema.enum) select.append(new Option(String(option), JSON.stringify(option)));
    if (value !== undefined) select.value = JSON.stringify(value);
    box.append(select);
    read = () => JSON.parse(select.value);
  } else if (schema.type === "number" || schema.type === "integer") {
    const input = document.createElement("input");
    Object.assign(input, { id, type: "number", value: value ?? "" });
    box.append(input);
    read = () => (input.value === "" ? undefined : Number(input.value));
  } else if (schema.type === "boolean") {
    const input = document.createElement("input");
    Object.assign(input, { id, type: "checkbox", checked: Boolean(value) });
    box.append(input);
    read = () => input.checked;
  } else if (schema.format === "uri") {
    const input = document.createElement("input");
    Object.assign(input, { id, type: "url", value: value ?? "", placeholder: "https://…" });
    box.append(input);
    read = () => (input.value === "" ? undefined : input.value);
  } else {
    const input = document.createElement("textarea");
    Object.assign(input, { id, value: value ?? "", rows: 3 });
    if (schema.maxLength) input.maxLength = schema.maxLength + 20; // the server names the limit
    box.append(input);
    read = () => (input.value === "" ? undefined : input.value);
  }
  if (description) {
    const hint = document.createElement("div");
    hint.className = "hint";
    hint.textContent = description;
    box.append(hint);
  }
  const error = document.createElement("div");
  error.className = "error";
  error.setAttribute("aria-live", "polite");
  box.append(error);
  box.read = read;
  return box;
}

// A colour picker and its #RRGGBB text, kept in step; the text is what is sent, so a
// typing mistake reaches the server and comes back as an error at the field.
function colourInput(box, id, value) {
  const wrap = document.createElement("div");
  wrap.className = "colour";
  const picker = document.createElement("input");
  picker.type = "color";
  picker.setAttribute("aria-label", "pick a colour");
  const text = document.createElement("input");
  Object.assign(text, { id, type: "text", value: value || "", placeholder: "#RRGGBB", spellcheck: false });
  const sync = () => {
    if (/^#[0-9a-fA-F]{6}$/.test(text.value)) picker.value = text.value.toLowerCase();
  };
  sync();
  picker.addEventListener("input", () => {
    text.value = picker.value.toUpperCase();
    text.dispatchEvent(new Event("input", { bubbles: true }));
  });
  text.addEventListener("input", sync);
  wrap.append(picker, text);
  box.append(wrap);
  return [() => (text.value === "" ? undefined : text.value)];
}

// A background: none, a solid colour or a gradient (the shared `background` schema).
function backgroundInput(box, id, schema, value, root) {
  const kinds = schema.oneOf.map((o) => o.properties.type.const);
  const group = document.createElement("div");
  group.className = "group";
  const kind = document.createElement("select");
  kind.id = id;
  for (const k of kinds) kind.append(new Option(k, k));
  value = value || { type: kinds[0] };
  kind.value = value.type;
  group.append(kind);
  const parts = {};
  const colour = (key, initial) => {
    const holder = document.createElement("div");
    holder.className = "colour-part";
    const [read] = colourInput(holder, `${id}-${key}`, initial);
    holder.prepend(Object.assign(document.createElement("span"), { className: "hint", textContent: key }));
    parts[key] = { holder, read };
    group.append(holder);
  };
  colour("color", value.color || value.from || "#1E1B4B");
  colour("from", value.from || "#1E1B4B");
  colour("to", value.to || "#0B1020");
  const direction = document.createElement("select");
  for (const d of ["diagonal", "vertical", "horizontal"]) direction.append(new Option(d, d));
  direction.value = value.direction || "diagonal";
  group.append(direction);
  const show = () => {
    parts.color.holder.hidden = kind.value !== "solid";
    parts.from.holder.hidden = parts.to.holder.hidden = direction.hidden = kind.value !== "gradient";
  };
  kind.addEventListener("change", show);
  show();
  box.append(group);
  return () => {
    if (kind.value === "solid") return { type: "solid", color: parts.color.read() };
    if (kind.value === "gradient") return { type: "gradient", from: parts.from.read(), to: parts.to.read(), direction: direction.value };
    return { type: kind.value };
  };
}

function values() {
  const out = { content: {}, style: {} };
  for (const box of document.querySelectorAll("#fields .field")) {
    const [part, name] = box.dataset.field.split(".");
    const value = box.read();
    if (value !== undefined) out[part][name] = value;
  }
  return out;
}

function size() {
  const [width, height] = $("#size").value.split("x").map(Number);
  return { width, height };
}

function request(extra) {
  const t = studio.template;
  const { content, style } = values();
  return { template: t.name, version: t.version, content, style, size: size(), ...extra };
}

// Errors go to the field whose path is the longest prefix of the one the server named.
function showErrors(details) {
  for (const box of document.querySelectorAll("#fields .field")) {
    box.classList.remove("invalid");
    box.querySelector(".error").textContent = "";
  }
  const unplaced = [];
  for (const detail of details) {
    const boxes = [...document.querySelectorAll("#fields .field")].filter((b) => detail.field === b.dataset.field || detail.field.startsWith(`${b.dataset.field}.`));
    const box = boxes.sort((a, b) => b.dataset.field.length - a.dataset.field.length)[0];
    if (box) {
      box.classList.add("invalid");
      const error = box.querySelector(".error");
      error.textContent = error.textContent ? `${error.textContent}; ${detail.message}` : detail.message;
    } else {
      unplaced.push(`${detail.field}: ${detail.message}`);
    }
  }
  return unplaced;
}

function schedulePreview() {
  clearTimeout(studio.debounce);
  studio.debounce = setTimeout(preview, 120);
}

async function preview() {
  if (!studio.template) return;
  const number = ++studio.asked;
  const at = Number($("#at").value);
  $("#at-label").textContent = `${at} ms`;
  const started = performance.now();
  const response = await call("POST", "/v1/templates/preview", request({ at_ms: at }));
  const blob = response.ok ? await response.blob() : null;
  if (number < studio.answered) return;
  studio.answered = number;
  if (response.status === 400) {
    const body = await response.json();
    const unplaced = showErrors(body.details || []);
    status(unplaced.length ? unplaced.join("; ") : "Fix the fields marked in red; the preview shows the last valid values.", true);
    return;
  }
  if (!response.ok) {
    status(await messageOf(response), true);
    return;
  }
  showErrors([]);
  const image = $("#preview");
  if (studio.objectUrl) URL.revokeObjectURL(studio.objectUrl);
  studio.objectUrl = URL.createObjectURL(blob);
  image.src = studio.objectUrl;
  image.dataset.rendered = String(Number(image.dataset.rendered) + 1);
  image.dataset.at = String(at);
  status(`${studio.template.reference} at ${at} ms, rendered in ${Math.round(performance.now() - started)} ms`);
}

// Play asks for the whole card as MP4 and plays it over the still.
async function play() {
  status("rendering the whole card…");
  const response = await call("POST", "/v1/templates/preview", request({ format: "mp4" }));
  if (!response.ok) {
    status(response.status === 400 ? "Fix the fields marked in red first." : await messageOf(response), true);
    return;
  }
  const player = $("#player");
  player.src = URL.createObjectURL(await response.blob());
  player.hidden = false;
  player.onended = () => {
    player.hidden = true;
    URL.revokeObjectURL(player.src);
  };
  await player.play().catch((e) => status(`cannot play here: ${e.message}`, true));
  status(`${studio.template.reference}: the whole card`);
}

document.addEventListener("DOMContentLoaded", () => {
  if (studio.token) {
    $("#sign-in").hidden = true;
    $("#who").hidden = false;
    $("#who").textContent = "signed in by a studio link";
    connect();
  } else if (studio.key) {
    $("#key").value = studio.key;
    connect();
  }
  $("#sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    studio.key = $("#key").value.trim();
    connect();
  });
  $("#template").addEventListener("change", (event) => choose(event.target.value));
  $("#fields").addEventListener("input", schedulePreview);
  $("#fields").addEventListener("change", schedulePreview);
  $("#size").addEventListener("change", preview);
  $("#at").addEventListener("input", schedulePreview);
  $("#play").addEventListener("click", play);
});
