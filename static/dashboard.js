// Reading the weekly charts: one tab stop per chart (the latest complete week), arrow keys move week
// by week, Home and End jump to the ends; a tap or a pointer over a week reads it too. The week's
// numbers show in the readout below the chart. The charts and their tables work without this script.
"use strict";
document.querySelectorAll("svg[data-chart]").forEach((chart) => {
  const marks = Array.from(chart.querySelectorAll(".mark"));
  const readout = document.getElementById(chart.dataset.readout);
  const show = (mark) => {
    marks.forEach((other) => other.classList.toggle("is-current", other === mark));
    if (readout) readout.textContent = mark.getAttribute("aria-label");
  };
  const steps = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, PageUp: 4, PageDown: -4 };
  marks.forEach((mark, index) => {
    mark.addEventListener("focus", () => {
      marks.forEach((other) => other.setAttribute("tabindex", "-1"));
      mark.setAttribute("tabindex", "0");
      show(mark);
    });
    mark.addEventListener("mouseenter", () => show(mark));
    mark.addEventListener("click", () => mark.focus());
    mark.addEventListener("keydown", (event) => {
      let next = null;
      if (event.key in steps) next = Math.min(marks.length - 1, Math.max(0, index + steps[event.key]));
      if (event.key === "Home") next = 0;
      if (event.key === "End") next = marks.length - 1;
      if (next === null) return;
      event.preventDefault();
      marks[next].focus();
    });
  });
});
