// fedadmet web page, Profile view: a structure editor (JSME, served by this app from /static/jsme, no CDN).
// It is loaded on first use; the drawn molecule goes out as SMILES into the list and the profile.
"use strict";

let structureEditor = null;  // the JSME applet once loaded (window.structureEditor for tests and the console)
let editorLoading = null;

// JSME is a GWT application: its loader script calls the global jsmeOnLoad() once the editor can be made.
function loadEditor() {
  editorLoading ??= new Promise((resolve, reject) => {
    window.jsmeOnLoad = () => {
      structureEditor = new JSApplet.JSME("jsme-container", "560px", "360px", { options: "oldlook,star,nocanonize" });
      window.structureEditor = structureEditor;
      resolve(structureEditor);
    };
    const script = element("script", { src: "/static/jsme/jsme.nocache.js" });
    script.addEventListener("error", () => reject(new Error("the structure editor could not be loaded")));
    document.head.append(script);
  });
  return editorLoading;
}

const firstLine = () => $("#smiles-input").value.split("\n").map((l) => l.trim()).find(Boolean) || "";

async function toggleEditor() {
  const panel = $("#editor-panel");
  panel.hidden = !panel.hidden;
  if (panel.hidden) return;
  const status = $("#editor-status");
  status.className = "status";
  status.textContent = structureEditor ? "" : "loading the editor…";
  try {
    const editor = await loadEditor();
    const smiles = firstLine().split(/\s+/)[0];
    if (smiles) editor.readGenericMolecularInput(smiles);  // edit the first molecule of the list
    status.textContent = "draw, or edit the first molecule of the list";
  } catch (error) {
    status.textContent = error.message;
    status.className = "status error";
  }
}

// The drawn molecule as SMILES; an empty drawing is said so.
function drawnSmiles() {
  const smiles = structureEditor ? structureEditor.smiles() : "";
  if (!smiles) {
    $("#editor-status").textContent = "draw a molecule first";
    $("#editor-status").className = "status error";
  }
  return smiles;
}

function setupEditor() {
  $("#editor-toggle").addEventListener("click", toggleEditor);
  $("#editor-profile").addEventListener("click", () => {
    const smiles = drawnSmiles();
    if (!smiles) return;
    $("#smiles-input").value = `${smiles} drawn`;
    profile();
  });
  $("#editor-add").addEventListener("click", () => {
    const smiles = drawnSmiles();
    if (!smiles) return;
    const text = $("#smiles-input").value.trimEnd();
    $("#smiles-input").value = `${text ? `${text}\n` : ""}${smiles} drawn`;
    $("#editor-status").className = "status";
    $("#editor-status").textContent = `added ${smiles}`;
  });
}
