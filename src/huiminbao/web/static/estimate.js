// 试算 form: tiers, populations and dates follow the chosen plan; stays are added and removed.
// Loaded as a file (no inline script), so a strict Content-Security-Policy can forbid inline code.
(function () {
  "use strict";
  const form = document.getElementById("estimate-form");
  if (!form) return;
  const planSelect = form.querySelector("select[name=plan]");
  const tierSelect = form.querySelector("select[name=tier]");
  const stays = form.querySelector(".stays");
  const template = document.getElementById("stay-template");

  function plan() { return planSelect.options[planSelect.selectedIndex]; }

  function followPlan() {
    const id = planSelect.value;
    let first = null;
    for (const opt of tierSelect.options) {
      const mine = !opt.dataset.plan || opt.dataset.plan === id;
      opt.hidden = !mine;
      opt.disabled = !mine;
      if (mine && !first) first = opt;
    }
    const chosen = tierSelect.selectedOptions[0];
    if (chosen && chosen.dataset.plan && chosen.dataset.plan !== id && first) tierSelect.value = first.value;
    form.querySelectorAll("[data-plans]").forEach((box) => {
      box.hidden = !box.dataset.plans.split(" ").includes(id);
      box.querySelectorAll("input").forEach((input) => { input.disabled = box.hidden; });
    });
    form.querySelectorAll("[data-drug-plan]").forEach((opt) => {
      opt.hidden = opt.dataset.drugPlan !== id;
      opt.disabled = opt.hidden;
    });
    const start = plan().dataset.start;
    const end = plan().dataset.end;
    form.querySelectorAll("input[type=date][name^=date_]").forEach((input, k) => {
      input.min = start;
      input.max = end;
      if (!input.value || input.value < start || input.value > end) {
        const day = new Date(start + "T00:00:00Z");
        day.setUTCMonth(day.getUTCMonth() + 2 + 3 * k);
        const text = day.toISOString().slice(0, 10);
        input.value = text > end ? end : text;
      }
    });
  }

  function renumber() {
    stays.querySelectorAll("fieldset.stay").forEach((box, k) => {
      box.querySelector(".stay-number").textContent = String(k + 1);
      box.querySelectorAll("[data-name]").forEach((input) => { input.name = input.dataset.name + "_" + k; });
      box.querySelector("button.remove").hidden = stays.children.length === 1;
    });
  }

  form.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.classList.contains("add")) {
      event.preventDefault();
      stays.appendChild(template.content.cloneNode(true));
      renumber();
      followPlan();
    } else if (button.classList.contains("remove")) {
      event.preventDefault();
      button.closest("fieldset.stay").remove();
      renumber();
    }
  });
  planSelect.addEventListener("change", followPlan);
  renumber();
  followPlan();
})();
