// 监管看板: draws each chart the page describes in its JSON block (#chart-specs) with the vendored ECharts.
// Loaded as a file (no inline script), so the strict Content-Security-Policy holds. Tooltips are drawn on the
// canvas (renderMode "richText"): ECharts' HTML tooltips carry inline styles, which the policy refuses.
(function () {
  "use strict";
  const block = document.getElementById("chart-specs");
  if (!block || !window.echarts) return;
  const specs = JSON.parse(block.textContent);
  const COLORS = ["#b4232a", "#0b5cad", "#1a7f37", "#9a6700", "#8250df", "#57606a", "#bf3989", "#0a7ea4"];

  // A spec may say what a missing value is (gap, e.g. "无数据"); otherwise it is a suppressed cell.
  function fmt(value, unit, gap) {
    if (value === null || value === undefined || value === "-") return gap || "不显示";
    const text = Number(value).toLocaleString("zh-CN", { maximumFractionDigits: 2 });
    return unit === "%" ? text + "%" : text + " " + unit;
  }

  function unitOf(spec, s) { return spec.units[s.axis || 0]; }

  function tooltip(spec) {
    return {
      trigger: spec.kind === "pie" ? "item" : "axis",
      renderMode: "richText",
      formatter: function (items) {
        const list = Array.isArray(items) ? items : [items];
        const head = list[0].name;
        const lines = list.map(function (p) {
          const s = spec.series[p.seriesIndex] || spec.series[0];
          const pct = spec.kind === "pie" && p.percent !== undefined ? "（" + p.percent + "%）" : "";
          return (spec.kind === "pie" ? "" : p.seriesName + "：") + fmt(p.value, unitOf(spec, s), spec.gap) + pct;
        });
        return head + "\n" + lines.join("\n");
      },
    };
  }

  function option(spec) {
    const base = {
      color: COLORS,
      textStyle: { fontFamily: "sans-serif" },
      tooltip: tooltip(spec),
      legend: { top: 0, type: "scroll" },
      aria: { enabled: true },
      animation: false,
    };
    if (spec.kind === "pie") {
      const s = spec.series[0];
      return Object.assign(base, {
        legend: { top: 0, type: "scroll" },
        series: [{
          name: s.name, type: "pie", radius: ["35%", "65%"], top: 30,
          label: { formatter: "{b}\n{d}%" },
          data: spec.categories.map(function (c, i) { return { name: c, value: s.values[i] }; }),
        }],
      });
    }
    const horizontal = spec.kind === "hbar";
    const category = {
      type: "category", data: spec.categories, inverse: horizontal, // top to bottom, as the table reads
      axisLabel: horizontal ? { width: 220, overflow: "truncate" } : { interval: 0, hideOverlap: true, rotate: spec.categories.length > 6 ? 30 : 0 },
    };
    const values = spec.units.map(function (unit, i) {
      return {
        type: "value", name: unit === "%" ? "比率（%）" : "单位：" + unit, position: i ? "right" : (horizontal ? "bottom" : "left"),
        nameLocation: horizontal ? "middle" : "end", nameGap: horizontal ? 28 : 15,
        nameTextStyle: { align: horizontal ? "center" : (i ? "right" : "left") },
        max: unit === "%" ? function (v) { return isFinite(v.max) ? Math.max(100, Math.ceil(v.max / 10) * 10) : 100; } : null, splitLine: { show: i === 0 }, axisLabel: { formatter: unit === "%" ? "{value}%" : "{value}" },
      };
    });
    const empty = spec.series.every(function (s) { return s.values.every(function (v) { return v === null; }); });
    return Object.assign(base, {
      graphic: empty && spec.categories.length ? [{
        type: "text", left: "center", top: "middle",
        style: { text: spec.gap ? "没有数据（见下表）" : "各格人数均不足 10 人，不显示（见下表）", fill: "#656d76", fontSize: 14 },
      }] : [],
      grid: { left: 16, right: horizontal ? 96 : 24, top: 56, bottom: horizontal ? 32 : 8, containLabel: true },
      xAxis: horizontal ? values : category,
      yAxis: horizontal ? category : values,
      // A series may name its own stack (bars side by side, each a stack) and a floor: a dashed line at a
      // value on its axis (e.g. the plan's minimum loss ratio).
      series: spec.series.map(function (s) {
        const line = s.kind === "line";
        return {
          name: s.name, type: line ? "line" : "bar", data: s.values, connectNulls: false,
          yAxisIndex: horizontal ? undefined : (s.axis || 0), stack: s.stack || (spec.stack && !line ? "all" : undefined),
          barMaxWidth: 48, symbolSize: 7, label: { show: horizontal, position: "right", formatter: function (p) { return fmt(p.value, unitOf(spec, s), spec.gap); } },
          markLine: s.floor ? {
            silent: true, symbol: "none", lineStyle: { type: "dashed", color: "#a32016" },
            label: { position: "insideEndTop", formatter: s.floor.label, color: "#a32016" },
            data: [{ yAxis: s.floor.value }],
          } : undefined,
        };
      }),
    });
  }

  const charts = specs.map(function (spec) {
    const el = document.getElementById(spec.id);
    if (!el) return null;
    const chart = window.echarts.init(el, null, { renderer: "canvas", locale: "ZH" });
    chart.setOption(option(spec));
    return chart;
  }).filter(Boolean);
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
