// ipintel console: the one script. Every page works without it; it adds copy buttons,
// reading a dropped or chosen file into the bulk form, and live bulk progress.
"use strict";

function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    if (!navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch (e) {
        button.textContent = "Select and copy";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }
}

function bulkFile() {
  const drop = document.getElementById("drop");
  const file = document.getElementById("file");
  const terms = document.getElementById("terms");
  if (!drop || !file || !terms) return;
  drop.hidden = false;
  const read = (f) => {
    if (!f) return;
    const reader = new FileReader();
    reader.onload = () => { terms.value = String(reader.result); };
    reader.readAsText(f);
  };
  file.addEventListener("change", () => read(file.files[0]));
  for (const target of [drop, terms]) {
    target.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    target.addEventListener("dragleave", () => drop.classList.remove("over"));
    target.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      read(e.dataTransfer.files[0]);
    });
  }
}

function bulkProgress() {
  const box = document.getElementById("bulk-progress");
  if (!box || box.dataset.state === "ready") return;
  const bar = document.getElementById("progress");
  const text = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
  let last = null;
  const poll = async () => {
    let p;
    try {
      const response = await fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) throw new Error(String(response.status));
      p = await response.json();
    } catch (e) {
      setTimeout(poll, 2000);
      return;
    }
    const done = p.processed + p.failed;
    bar.max = Math.max(p.valid, 1);
    bar.value = p.valid === 0 ? 1 : done;
    const percent = p.valid === 0 ? 100 : Math.floor(done * 100 / p.valid);
    text("percent", percent + " %");
    text("done", done);
    text("processed", p.processed);
    text("failed", p.failed);
    text("invalid", p.invalid);
    text("state", p.state);
    box.dataset.state = p.state;
    const now = performance.now();
    if (last && now > last.at && done > last.done) {
      const rate = (done - last.done) / ((now - last.at) / 1000);
      text("rate", ", " + Math.round(rate) + " terms/s");
      text("eta", p.ready ? "" : ", about " + Math.ceil((p.valid - done) / rate) + " s left");
    }
    last = { at: now, done };
    if (p.ready) {
      text("eta", "");
      const downloads = document.getElementById("downloads");
      if (downloads) downloads.hidden = false;
      return;
    }
    setTimeout(poll, 500);
  };
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  copyButtons();
  bulkFile();
  bulkProgress();
});
