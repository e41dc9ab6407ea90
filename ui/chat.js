() => {
  // Plain-text copy, plain-text screen-reader labels and keeping a finished answer in view.
  // The chat's messages are HTML rendered by ui/render.py; an answer carries its plain text (the
  // answer with its [n], then the sources) in a hidden .rag-plain element.
  const plainOf = (el) => {
    if (!el) return "";
    const plain = el.querySelector(".rag-plain");
    return (plain ? plain.textContent : el.innerText) || "";
  };

  document.addEventListener(
    "click",
    async (event) => {
      const button = event.target.closest ? event.target.closest(".rag-copy") : null;
      if (!button) return;
      event.preventDefault();
      event.stopPropagation();
      const text = plainOf(button.closest(".rag-answer"));
      try {
        await navigator.clipboard.writeText(text);
      } catch (err) {
        // no clipboard API (plain http on another host): the old way
        const area = document.createElement("textarea");
        area.value = text;
        area.style.position = "fixed";
        area.style.opacity = "0";
        document.body.appendChild(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    },
    true
  );

  const scroller = (el) => {
    for (let node = el.parentElement; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (/(auto|scroll)/.test(style.overflowY) && node.scrollHeight > node.clientHeight) return node;
    }
    return null;
  };

  let shown = null; // the id of the last finished answer brought into view
  let asked = 0; // questions in the chat at the last look
  const tidy = () => {
    document.querySelectorAll("#chat [aria-label]").forEach((el) => {
      const label = el.getAttribute("aria-label") || "";
      const inner = el.querySelector(".rag-answer, .rag-question");
      if (!inner || !label.includes("message:")) return;
      const wanted = label.split("message:")[0] + "message: " + plainOf(inner);
      if (label !== wanted) el.setAttribute("aria-label", wanted);
    });
    const questions = document.querySelectorAll("#chat .rag-question").length;
    if (questions > asked) {
      // a new question: show it and the answer area below it (Gradio stops following the bottom once
      // the view was moved, e.g. by the step below)
      const box = scroller(document.querySelector("#chat .rag-question"));
      if (box) box.scrollTop = box.scrollHeight;
    }
    asked = questions;
    const finals = document.querySelectorAll("#chat .rag-final");
    const last = finals[finals.length - 1];
    if (!last || last.id === shown) return;
    shown = last.id;
    // A finished answer: its first line at the top of the chat when it would otherwise be out of view
    // (long sources push it up; Gradio scrolls to the bottom after an update); the sources stay below.
    const keepInView = () => {
      const box = scroller(last);
      if (!box) return;
      const top = last.getBoundingClientRect().top - box.getBoundingClientRect().top;
      if (top < 0 || top > box.clientHeight - 60) box.scrollTop += top - 8;
    };
    [80, 250, 600, 1200].forEach((ms) => setTimeout(keepInView, ms));
  };
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    setTimeout(() => {
      queued = false;
      tidy();
    }, 60);
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["aria-label"] });
}
