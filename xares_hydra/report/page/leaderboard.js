// Sorting, filtering and drill-downs of leaderboard.html; no network, no libraries.
"use strict";

function cellValue(body, column, kind) {
  const cell = body.rows[0].cells[column];
  const raw = cell ? cell.dataset.value : "";
  if (kind === "text") {
    return raw || "";
  }
  return raw === "" || raw === undefined ? null : Number(raw);
}

function sortTable(button) {
  const table = button.closest("table");
  const header = button.closest("th");
  const column = Number(button.dataset.column);
  const kind = button.dataset.kind;
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  const bodies = Array.from(table.tBodies);
  bodies.sort(function (a, b) {
    const x = cellValue(a, column, kind);
    const y = cellValue(b, column, kind);
    if (x === null || y === null) {
      return (x === null) - (y === null); // missing scores last, either way
    }
    const order = kind === "text" ? x.localeCompare(y) : x - y;
    return ascending ? order : -order;
  });
  const footer = table.tFoot;
  for (const body of bodies) {
    table.insertBefore(body, footer);
  }
  for (const other of table.tHead.querySelectorAll("th")) {
    other.setAttribute("aria-sort", "none");
  }
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
}

function applyFilters() {
  const tag = document.getElementById("filter-tag").value;
  const domain = document.getElementById("filter-domain").value;
  const mode = document.getElementById("filter-mode").value;
  let shown = 0;
  let total = 0;
  for (const section of document.querySelectorAll("section.mode")) {
    section.hidden = mode !== "" && section.dataset.mode !== mode;
    for (const body of section.querySelectorAll("tbody.task")) {
      const tags = body.dataset.tags.split(" ");
      const visible = (tag === "" || tags.includes(tag)) && (domain === "" || body.dataset.domain === domain);
      body.hidden = !visible;
      if (!section.hidden) {
        total += 1;
        shown += visible ? 1 : 0;
      }
    }
  }
  for (const card of document.querySelectorAll("article.card")) {
    card.hidden = mode !== "" && card.dataset.mode !== mode;
  }
  document.getElementById("filter-status").textContent = shown + " of " + total + " task rows shown";
}

function toggleDetail(button) {
  const detail = document.getElementById(button.getAttribute("aria-controls"));
  const open = button.getAttribute("aria-expanded") !== "true";
  detail.hidden = !open;
  button.setAttribute("aria-expanded", open ? "true" : "false");
}

document.addEventListener("click", function (event) {
  const button = event.target.closest("button");
  if (!button) {
    return;
  }
  if (button.classList.contains("sort")) {
    sortTable(button);
  } else if (button.classList.contains("details")) {
    toggleDetail(button);
  }
});

for (const select of document.querySelectorAll(".filters select")) {
  select.addEventListener("change", applyFilters);
}
applyFilters();
