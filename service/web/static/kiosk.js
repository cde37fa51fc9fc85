// The door kiosk: show the camera; when the picture has been steady for about a second (little change between
// successive small grey thumbnails, and not a blank frame), send 3 frames to the access check, show the answer
// large for a few seconds, then look again. No frame leaves the page except in those requests.
"use strict";

(function () {
  var body = document.getElementById("kiosk");
  var door = body.getAttribute("data-door");
  var csrf = body.getAttribute("data-csrf");
  var video = document.getElementById("camera");
  var probe = document.getElementById("probe");
  var shot = document.getElementById("shot");
  var verdict = document.getElementById("verdict");
  var nameLine = document.getElementById("name");
  var message = document.getElementById("message");

  var PROBE_MS = 200;       // how often the picture is sampled
  var STEADY_SAMPLES = 5;   // ~1 s without movement
  var STILL = 6;            // mean absolute grey difference (0-255) under which two samples are "the same"
  var MIN_CONTRAST = 12;    // a darker/flat frame (covered lens, no light) is not a face
  var SHOW_MS = 4000;       // how long an answer stays
  var FRAMES = 3;
  var FRAME_GAP_MS = 120;

  var previous = null;
  var steady = 0;
  var busy = false;

  function show(state, big, who, detail) {
    body.setAttribute("data-state", state);
    verdict.textContent = big;
    nameLine.textContent = who || "";
    message.textContent = detail || "";
  }

  function reset() {
    busy = false;
    steady = 0;
    previous = null;
    show("idle", "Look at the camera", "", "");
  }

  function sample() {
    var ctx = probe.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, probe.width, probe.height);
    var data = ctx.getImageData(0, 0, probe.width, probe.height).data;
    var grey = new Float32Array(probe.width * probe.height);
    var sum = 0;
    for (var i = 0; i < grey.length; i++) {
      grey[i] = 0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2];
      sum += grey[i];
    }
    var mean = sum / grey.length;
    var spread = 0;
    for (var j = 0; j < grey.length; j++) spread += Math.abs(grey[j] - mean);
    return { grey: grey, contrast: spread / grey.length };
  }

  function difference(a, b) {
    var total = 0;
    for (var i = 0; i < a.length; i++) total += Math.abs(a[i] - b[i]);
    return total / a.length;
  }

  function frame() {
    shot.width = video.videoWidth;
    shot.height = video.videoHeight;
    shot.getContext("2d").drawImage(video, 0, 0);
    return new Promise(function (resolve) { shot.toBlob(resolve, "image/jpeg", 0.9); });
  }

  function wait(ms) { return new Promise(function (resolve) { window.setTimeout(resolve, ms); }); }

  async function check() {
    busy = true;
    show("checking", "Checking…", "", "");
    var form = new FormData();
    for (var i = 0; i < FRAMES; i++) {
      form.append("frames", await frame(), "frame" + i + ".jpg");
      if (i < FRAMES - 1) await wait(FRAME_GAP_MS);
    }
    try {
      var response = await fetch("/kiosk/" + door + "/check", {
        method: "POST",
        body: form,
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf },
      });
      var answer = await response.json();
      if (response.status === 401) {
        window.location.reload();
        return;
      }
      if (answer.granted) show("granted", "Granted", answer.name, answer.message);
      else show("denied", "Denied", "", answer.message);
    } catch (error) {
      show("denied", "Denied", "", "No answer from the server: please try again");
    }
    window.setTimeout(reset, SHOW_MS);
  }

  function tick() {
    if (!busy && video.readyState >= 2 && video.videoWidth > 0) {
      var now = sample();
      if (previous && now.contrast > MIN_CONTRAST && difference(now.grey, previous) < STILL) steady += 1;
      else steady = 0;
      previous = now.grey;
      if (steady >= STEADY_SAMPLES) check();
    }
    window.setTimeout(tick, PROBE_MS);
  }

  navigator.mediaDevices
    .getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false })
    .then(function (stream) {
      video.srcObject = stream;
      reset();
      tick();
    })
    .catch(function (error) {
      show("denied", "No camera", "", String(error && error.name ? error.name : error));
    });
})();
