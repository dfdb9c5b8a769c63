// The living gallery on the page: enroll (POST /v1/gallery), browse by label, remove (DELETE).
// Shown only when the server has a gallery store (GET /v1/gallery/labels answers 200).
"use strict";

(() => {
  const byId = (id) => document.getElementById(id);
  const KEY_SLOT = "siamkit-api-key"; // sessionStorage: gone when the tab closes
  const PAGE = 24;
  const view = { label: null, offset: 0, files: [] };

  const keyHeaders = () => {
    const key = byId("api-key").value.trim();
    return key ? { "X-API-Key": key } : {};
  };

  async function call(url, options = {}) {
    const response = await fetch(url, options);
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail
        : body && Array.isArray(body.detail) ? body.detail.map((e) => e.msg).join("; ")
        : `${response.status} ${response.statusText || "error"}`;
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function say(id, text, failed = false) {
    byId(id).textContent = text;
    byId(id).classList.toggle("error", failed);
  }

  function itemTile(item) {
    const tile = document.createElement("li");
    tile.className = "tile";
    tile.dataset.id = String(item.id);
    const image = document.createElement("img");
    image.src = item.image_url;
    image.alt = `${item.label} (${item.filename || item.id})`;
    image.loading = "lazy";
    const meta = document.createElement("div");
    meta.className = "tile-meta";
    const name = document.createElement("span");
    name.className = "tile-label";
    name.textContent = item.filename || `#${item.id}`;
    name.title = item.filename;
    const id = document.createElement("span");
    id.className = "tile-score";
    id.textContent = `#${item.id}`;
    meta.append(name, id);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "tile-remove";
    remove.textContent = "Remove";
    remove.addEventListener("click", () => removeItem(item, tile, remove));
    tile.append(image, meta, remove);
    return tile;
  }

  async function removeItem(item, tile, button) {
    button.disabled = true;
    try {
      const result = await call(`v1/gallery/${item.id}`, { method: "DELETE", headers: keyHeaders() });
      tile.remove();
      say("gallery-status", `Removed #${item.id} · ${result.gallery_size} images in the gallery`);
      await loadLabels();
    } catch (error) {
      button.disabled = false;
      say("gallery-status", `Could not remove #${item.id}: ${error.message}`, true);
    }
  }

  async function showLabel(label, more = false) {
    view.label = label;
    view.offset = more ? view.offset : 0;
    const grid = byId("gallery-items");
    for (const button of byId("gallery-labels").querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.label === label));
    }
    try {
      const query = new URLSearchParams({ label, offset: String(view.offset), limit: String(PAGE) });
      const page = await call(`v1/gallery?${query}`);
      const tiles = page.items.map(itemTile);
      if (more) grid.append(...tiles); else grid.replaceChildren(...tiles);
      view.offset += page.items.length;
      byId("gallery-more").hidden = view.offset >= page.total;
      say("gallery-status", `${label}: ${page.total} image${page.total === 1 ? "" : "s"}`);
    } catch (error) {
      say("gallery-status", `Could not list ${label}: ${error.message}`, true);
    }
  }

  async function loadLabels() {
    const result = await call("v1/gallery/labels");
    const list = byId("gallery-labels");
    list.replaceChildren(...result.labels.map(({ label, count }) => {
      const entry = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.label = label;
      button.textContent = `${label} (${count})`;
      button.title = label;
      button.setAttribute("aria-pressed", String(label === view.label));
      button.addEventListener("click", () => showLabel(label));
      entry.append(button);
      return entry;
    }));
    if (!result.labels.length) say("gallery-status", "The gallery is empty: enroll the first images above.");
    const search = byId("search-file");
    if (search && result.gallery_size) { // a gallery that was empty at load can be searched now
      search.disabled = false;
      byId("drop-search").classList.remove("disabled");
      byId("search-hint").textContent = "Drop or pick one image to find its closest matches in the gallery.";
    }
    return result;
  }

  function takeFiles(files) {
    view.files = [...files].filter((file) => file.type.startsWith("image/") || !file.type);
    byId("enroll-count").textContent = view.files.length
      ? `${view.files.length} image${view.files.length === 1 ? "" : "s"} chosen` : "drop or tap (several at once)";
    byId("drop-enroll").classList.toggle("filled", view.files.length > 0);
  }

  async function enroll(event) {
    event.preventDefault();
    const label = byId("enroll-label").value.trim();
    if (!view.files.length) { say("enroll-status", "Choose one or more images first.", true); return; }
    if (!label) { say("enroll-status", "Type the identity's label.", true); return; }
    const form = new FormData();
    for (const file of view.files) form.append("images", file);
    form.append("label", label);
    byId("enroll-submit").disabled = true;
    say("enroll-status", "Enrolling…");
    try {
      const result = await call("v1/gallery", { method: "POST", body: form, headers: keyHeaders() });
      say("enroll-status", `Enrolled ${result.ids.length} image${result.ids.length === 1 ? "" : "s"} as ${result.label} ` +
        `(#${result.ids.join(", #")}) · ${result.gallery_size} images in the gallery`);
      takeFiles([]);
      byId("enroll-files").value = "";
      await loadLabels();
      await showLabel(result.label);
    } catch (error) {
      const hint = error.status === 401 ? " Paste a key with write scope into the API key field." : "";
      say("enroll-status", `Could not enroll: ${error.message}.${hint}`, true);
    } finally {
      byId("enroll-submit").disabled = false;
    }
  }

  async function start() {
    try {
      const info = await call("v1/model");
      if (!info.gallery_store) return; // a read-only index, or no gallery: nothing to enroll into
      await loadLabels();
    } catch (error) {
      return; // reads need a key on this server: the section stays hidden
    }
    byId("gallery-card").hidden = false;
    const key = byId("api-key");
    key.value = sessionStorage.getItem(KEY_SLOT) || "";
    key.addEventListener("input", () => sessionStorage.setItem(KEY_SLOT, key.value.trim()));
    byId("enroll-files").addEventListener("change", () => takeFiles(byId("enroll-files").files));
    const zone = byId("drop-enroll");
    for (const name of ["dragenter", "dragover"]) zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("over"); });
    for (const name of ["dragleave", "drop"]) zone.addEventListener(name, () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => { e.preventDefault(); if (e.dataTransfer) takeFiles(e.dataTransfer.files); });
    byId("enroll-form").addEventListener("submit", enroll);
    byId("gallery-more").addEventListener("click", () => showLabel(view.label, true));
  }

  start();
})();
