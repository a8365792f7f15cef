// The YAML editor: CodeMirror 6 with YAML highlighting, wrapped once around the plain textareas
// the app renders with `data-yaml-editor`. The textarea stays the source of truth for Leptos:
// edits are written back to it with an `input` event, and values Leptos sets on it are shown in
// the editor. Enhancement waits for hydration, and the editor lives in an empty element Leptos
// renders for it, so the DOM Leptos hydrates and updates is never changed under it.
import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { yaml } from "@codemirror/lang-yaml";

const valueProperty = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, "value");

function enhance(textarea) {
  const host = document.querySelector(`[data-yaml-editor-for="${textarea.id}"]`);
  if (!host || textarea.dataset.enhanced) return;
  textarea.dataset.enhanced = "true";
  const label = document.querySelector(`label[for="${textarea.id}"]`);
  const readOnly = textarea.disabled || textarea.readOnly || textarea.closest("fieldset:disabled") !== null;
  let syncing = false;
  const view = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: valueProperty.get.call(textarea),
      extensions: [
        basicSetup,
        yaml(),
        EditorState.tabSize.of(2),
        EditorState.readOnly.of(readOnly),
        EditorView.editable.of(!readOnly),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({
          "aria-label": label ? label.textContent : "YAML",
          "aria-describedby": textarea.getAttribute("aria-describedby") || "",
          "aria-multiline": "true",
        }),
        EditorView.updateListener.of((u) => {
          if (!u.docChanged || syncing) return;
          valueProperty.set.call(textarea, u.state.doc.toString());
          textarea.dispatchEvent(new Event("input", { bubbles: true }));
        }),
      ],
    }),
  });
  // Values Leptos writes to the textarea (loading, resetting) appear in the editor.
  Object.defineProperty(textarea, "value", {
    configurable: true,
    get() { return valueProperty.get.call(this); },
    set(v) {
      valueProperty.set.call(this, v);
      if (v !== view.state.doc.toString()) {
        syncing = true;
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: v } });
        syncing = false;
      }
    },
  });
  // The editor takes the label; the textarea stays in the form, out of sight and of the
  // accessibility tree.
  if (label) label.htmlFor = "";
  if (label && !label.id) label.id = `${textarea.id}-label`;
  textarea.hidden = true;
  textarea.setAttribute("aria-hidden", "true");
  textarea.tabIndex = -1;
  host.classList.add("ready");
}

function scan() {
  if (document.querySelector("div.layout")?.dataset.hydrated !== "true") return;
  document.querySelectorAll("textarea[data-yaml-editor]").forEach(enhance);
}

new MutationObserver(scan).observe(document.documentElement, {
  subtree: true,
  childList: true,
  attributes: true,
  attributeFilter: ["data-hydrated"],
});
scan();
