// The siamkit page: two drop zones for /v1/compare, one for /v1/search. No framework, no build.
"use strict";

const $ = (id) => document.getElementById(id);
const model = { threshold: null, gallerySize: 0 };
const chosen = { a: null, b: null, query: null };
let compareRound = 0;
let searchRound = 0;

// Similarity is (1 + cos) / 2 and distance sqrt(2 - 2 cos) for unit vectors, so a distance
// threshold t sits at similarity 1 - t^2 / 4: where the gauge draws its marker.
const similarityAt = (distance) => Math.min(1, Math.max(0, 1 - (distance * distance) / 4));
// Near-identical images all read 100.0% at one decimal; two decimals keep them apart.
const percent = (value) => `${(100 * value).toFixed(value >= 0.99 && value < 1 ? 2 : 1)}%`;

function describeError(body, response) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((e) => `${(e.loc || []).slice(1).join(".") || "request"}: ${e.msg}`).join("; ");
  }
  return `${response.status} ${response.statusText || "error"}`;
}

async function postForm(url, form) {
  const response = await fetch(url, { method: "POST", body: form });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(describeError(body, response));
  return body;
}

function setupDrop(zoneId, inputId, previewId, onFile) {
  const zone = $(zoneId);
  const input = $(inputId);
  const preview = $(previewId);
  const take = (file) => {
    if (input.disabled) return;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    zone.classList.add("filled");
    onFile(file);
  };
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) take(input.files[0]);
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) take(file);
  });
}

// ------------------------------------------------------------------ compare

function showCompare(state, similarity, verdict, detail, fill) {
  $("compare-result").dataset.state = state;
  $("compare-similarity").textContent = similarity;
  $("compare-verdict").textContent = verdict;
  $("compare-detail").textContent = detail;
  $("compare-bar").style.width = `${Math.round(100 * (fill || 0))}%`;
}

async function compare() {
  if (!chosen.a || !chosen.b) {
    showCompare("idle", "–", chosen.a || chosen.b ? "Now the other image" : "Waiting for two images", "");
    return;
  }
  const round = ++compareRound;
  showCompare("busy", "…", "Comparing", "");
  const form = new FormData();
  form.append("image_a", chosen.a);
  form.append("image_b", chosen.b);
  try {
    const result = await postForm("v1/compare", form);
    if (round !== compareRound) return;
    showCompare(
      result.same ? "same" : "different",
      percent(result.similarity),
      result.same ? "Same" : "Different",
      `similarity ${result.similarity.toFixed(3)} · distance ${result.distance.toFixed(3)} · ` +
        `same when distance ≤ ${result.threshold.toFixed(3)}`,
      result.similarity,
    );
  } catch (error) {
    if (round === compareRound) showCompare("error", "!", "Could not compare", error.message);
  }
}

// ------------------------------------------------------------------ search

function tile(hit, rank) {
  const item = document.createElement("li");
  item.className = "tile";
  if (model.threshold !== null && hit.distance <= model.threshold) item.classList.add("match");
  const image = document.createElement("img");
  image.src = hit.image_url;
  image.alt = hit.label || `gallery image ${hit.id}`;
  image.loading = "lazy";
  const badge = document.createElement("span");
  badge.className = "rank";
  badge.textContent = String(rank);
  const meta = document.createElement("div");
  meta.className = "tile-meta";
  const label = document.createElement("span");
  label.className = "tile-label";
  label.textContent = hit.label || "(no label)";
  label.title = hit.label;
  const score = document.createElement("span");
  score.className = "tile-score";
  score.textContent = percent(hit.similarity);
  meta.append(label, score);
  item.append(image, badge, meta);
  return item;
}

async function search() {
  if (!chosen.query) return;
  const round = ++searchRound;
  const results = $("search-results");
  $("search-status").textContent = "Searching…";
  results.setAttribute("aria-busy", "true");
  const form = new FormData();
  form.append("image", chosen.query);
  form.append("k", $("search-k").value);
  try {
    const result = await postForm("v1/search", form);
    if (round !== searchRound) return;
    results.replaceChildren(...result.hits.map((hit, index) => tile(hit, index + 1)));
    const matches = results.querySelectorAll(".tile.match").length;
    $("search-status").textContent =
      `${result.hits.length} closest of ${model.gallerySize} gallery images` +
      (model.threshold !== null ? ` · ${matches} within the same-identity threshold` : "");
  } catch (error) {
    if (round !== searchRound) return;
    results.replaceChildren();
    $("search-status").textContent = `Could not search: ${error.message}`;
  } finally {
    if (round === searchRound) results.removeAttribute("aria-busy");
  }
}

// ------------------------------------------------------------------ start

async function loadModelInfo() {
  try {
    const response = await fetch("v1/model");
    const info = await response.json();
    model.threshold = info.threshold;
    model.gallerySize = info.gallery_size;
    $("model-info").textContent =
      `${info.backbone} · ${info.embedding_dim}-d embeddings · ${info.image_size} px · ` +
      `threshold ${info.threshold.toFixed(3)} · gallery of ${info.gallery_size} images`;
    $("compare-threshold").style.left = `${(100 * similarityAt(info.threshold)).toFixed(1)}%`;
    if (!info.gallery_size) {
      $("search-hint").textContent = "No gallery images yet: start siamkit serve with --index INDEX or --gallery STORE (and enroll images below) to search.";
      $("search-file").disabled = true;
      $("drop-search").classList.add("disabled");
    }
  } catch (error) {
    $("model-info").textContent = "The service is not answering.";
  }
}

// A file dropped beside a drop zone must not make the browser navigate away to show it.
for (const name of ["dragover", "drop"]) window.addEventListener(name, (event) => event.preventDefault());

setupDrop("drop-a", "file-a", "preview-a", (file) => { chosen.a = file; compare(); });
setupDrop("drop-b", "file-b", "preview-b", (file) => { chosen.b = file; compare(); });
setupDrop("drop-search", "search-file", "preview-search", (file) => { chosen.query = file; search(); });
$("search-k").addEventListener("change", search);
loadModelInfo();
