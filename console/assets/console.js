// The Portico console's script: polls /status (same origin; the browser
// sends the admin cookie by itself) and redraws the tables and the chart.
// Cells are set with textContent only, never as markup. Without this
// script the server-rendered page still shows every table.
"use strict";
(function () {
  var PERIOD_MS = 2000;
  var TIMEOUT_MS = 5000;

  function bytes(n) {
    if (n < 1024) return n + " B";
    var units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    var v = n / 1024, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return v.toFixed(1) + " " + units[i];
  }
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + m + "m";
    if (m > 0) return m + "m " + (s % 60) + "s";
    return s + "s";
  }
  function ago(at, now) { return duration(now - at) + " ago"; }
  function until(at, now) { return at >= now ? "in " + duration(at - now) : "expired " + ago(at, now); }

  // The same columns as the server's view module.
  var tables = {
    listeners: function (st) {
      return st.listeners.map(function (l) {
        return [l.transport === "udp" ? l.bind + " (udp)" : l.bind, l.protocols.join(" "), String(l.active)];
      });
    },
    routes: function (st) {
      return st.routes.map(function (r) {
        return [r.hosts.join(" "), r.target, String(r.connections), String(r.active),
          bytes(r.bytes_to_backend), bytes(r.bytes_to_client)];
      });
    },
    tunnels: function (st) {
      var rows = [];
      st.tunnels.forEach(function (t) {
        if (t.sessions.length === 0) rows.push([t.name, "no session", "", "", "", "", ""]);
        t.sessions.forEach(function (s) {
          rows.push([t.name, s.remote, s.transport, ago(s.since, st.now), String(s.open_streams),
            bytes(s.bytes_to_client), bytes(s.bytes_to_gateway)]);
        });
      });
      return rows;
    },
    refusals: function (st) {
      return st.refusals.map(function (r) { return [r.reason, String(r.recent), String(r.total)]; });
    },
    acme: function (st) {
      return st.acme.map(function (c) { return [c.name, until(c.not_after, st.now), c.serial]; });
    }
  };

  function fill(id, rows) {
    var body = document.getElementById(id);
    if (!body) return;
    var heads = body.parentNode.querySelectorAll("thead th");
    var fresh = document.createElement("tbody");
    fresh.id = id;
    fresh.setAttribute("data-empty", body.getAttribute("data-empty") || "");
    if (rows.length === 0) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.className = "empty";
      td.colSpan = heads.length;
      td.textContent = body.getAttribute("data-empty") || "";
      tr.appendChild(td);
      fresh.appendChild(tr);
    }
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      row.forEach(function (cell, i) {
        var td = document.createElement("td");
        if (heads[i] && heads[i].className === "num") td.className = "num";
        if (heads[i]) td.setAttribute("data-label", heads[i].textContent);
        td.textContent = cell;
        tr.appendChild(td);
      });
      fresh.appendChild(tr);
    });
    body.parentNode.replaceChild(fresh, body);
  }

  function points(values) {
    if (values.length === 1) values = [values[0], values[0]];
    var max = Math.max.apply(null, [0].concat(values));
    var steps = Math.max(1, values.length - 1);
    return values.map(function (v, i) {
      var y = max > 0 ? 140 - 140 * v / max : 140;
      return (600 * i / steps).toFixed(1) + "," + y.toFixed(1);
    }).join(" ");
  }

  function chart(history) {
    var active = history.map(function (s) { return Math.max(0, s.active); });
    var rate = [];
    for (var i = 1; i < history.length; i++) {
      var dt = Math.max(1, history[i].at - history[i - 1].at);
      rate.push(Math.max(0, history[i].bytes - history[i - 1].bytes) / dt);
    }
    var set = function (id, attr, value) {
      var el = document.getElementById(id);
      if (el) { if (attr) el.setAttribute(attr, value); else el.textContent = value; }
    };
    set("chart-active", "points", points(active));
    set("chart-rate", "points", points(rate));
    set("chart-active-max", null, String(Math.max.apply(null, [0].concat(active))));
    set("chart-rate-max", null, bytes(Math.round(Math.max.apply(null, [0].concat(rate)))) + "/s");
  }

  function summary(st) {
    var refused = st.refusals.reduce(function (a, r) { return a + r.total; }, 0);
    return "up " + duration(st.uptime_seconds) + " · " + st.totals.active + " open · " +
      st.totals.connections + (st.totals.connections === 1 ? " connection · " : " connections · ") +
      bytes(st.totals.bytes) + " forwarded · " +
      refused + " refused";
  }

  function show(st) {
    var windowHead = document.querySelector("#refusals");
    if (windowHead) {
      var th = windowHead.parentNode.querySelectorAll("thead th")[1];
      if (th) th.textContent = "last " + duration(st.refusal_window_seconds);
    }
    Object.keys(tables).forEach(function (id) { fill(id, tables[id](st)); });
    chart(st.history);
    document.getElementById("summary").textContent = summary(st);
    document.getElementById("updated").textContent = "live · updated " + new Date().toLocaleTimeString();
  }

  function poll() {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    fetch("/status", { credentials: "same-origin", cache: "no-store", signal: controller ? controller.signal : undefined })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(show)
      .catch(function (e) {
        document.getElementById("updated").textContent = "not updated: " + e.message;
      })
      .then(function () { if (timer) clearTimeout(timer); setTimeout(poll, PERIOD_MS); });
  }
  poll();
})();
