// The console's only script (no framework, no inline script: the CSP forbids it).
// 1. Forms with data-confirm ask before they submit (deleting a door, revoking a key).
// 2. On the status page, draws the /metrics counters as bar charts, refreshed every 5 s.
"use strict";

document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

var SVG = "http://www.w3.org/2000/svg";

function drawBars(svg, counts) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  var labels = Object.keys(counts).sort();
  var width = Number(svg.getAttribute("width"));
  var rowHeight = 20;
  svg.setAttribute("height", String(Math.max(rowHeight, labels.length * rowHeight) + 4));
  var max = Math.max.apply(null, labels.map(function (k) { return counts[k]; }).concat([1]));
  labels.forEach(function (label, i) {
    var y = i * rowHeight + 2;
    var text = document.createElementNS(SVG, "text");
    text.setAttribute("x", "0");
    text.setAttribute("y", String(y + 13));
    text.textContent = label;
    svg.appendChild(text);
    var bar = document.createElementNS(SVG, "rect");
    var barWidth = Math.max(1, ((width - 260) * counts[label]) / max);
    bar.setAttribute("x", "190");
    bar.setAttribute("y", String(y + 2));
    bar.setAttribute("height", String(rowHeight - 6));
    bar.setAttribute("width", String(barWidth));
    bar.setAttribute("class", "bar " + label.split(":")[0]);
    svg.appendChild(bar);
    var value = document.createElementNS(SVG, "text");
    value.setAttribute("x", String(196 + barWidth));
    value.setAttribute("y", String(y + 13));
    value.textContent = String(counts[label]);
    svg.appendChild(value);
  });
  if (!labels.length) {
    var none = document.createElementNS(SVG, "text");
    none.setAttribute("x", "0");
    none.setAttribute("y", "14");
    none.textContent = "nothing counted yet";
    svg.appendChild(none);
  }
}

function refreshCharts(source) {
  fetch(source, { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (data) {
      if (!data) return;
      drawBars(document.getElementById("chart-decisions"), data.decisions);
      drawBars(document.getElementById("chart-http"), data.http);
    })
    .catch(function () { /* the next refresh tries again */ });
}

document.addEventListener("DOMContentLoaded", function () {
  var charts = document.getElementById("charts");
  if (!charts) return;
  var source = charts.getAttribute("data-source");
  refreshCharts(source);
  window.setInterval(function () { refreshCharts(source); }, 5000);
});

// 3. On a person's page, "Use the camera" adds photos taken with the browser's camera to the enrolment form's
//    file input (as JPEG files), so they are uploaded and quality-checked like chosen files.
document.addEventListener("DOMContentLoaded", function () {
  var start = document.getElementById("camera-start");
  if (!start) return;
  var video = document.getElementById("camera-preview");
  var take = document.getElementById("camera-take");
  var count = document.getElementById("camera-count");
  var input = document.getElementById("images");

  start.addEventListener("click", function () {
    navigator.mediaDevices
      .getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false })
      .then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        take.hidden = false;
        start.hidden = true;
        input.required = false;
      })
      .catch(function (error) { count.textContent = "No camera: " + (error && error.name ? error.name : error); });
  });

  take.addEventListener("click", function () {
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob(function (blob) {
      if (!blob) return;
      var next = new DataTransfer();  // the files chosen or taken so far, and this photo
      for (var i = 0; i < input.files.length; i++) next.items.add(input.files[i]);
      next.items.add(new File([blob], "camera-" + (input.files.length + 1) + ".jpg", { type: "image/jpeg" }));
      input.files = next.files;
      count.textContent = input.files.length + " image(s) ready";
    }, "image/jpeg", 0.92);
  });
});
