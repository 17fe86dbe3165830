// Pet photo upload widget for the store's product page. No dependencies.
//
//   import { mount } from "./pet-upload.js";
//   mount(document.querySelector("#pet-upload"), {
//     uploadUrlEndpoint: "https://…/upload_url", statusEndpoint: "https://…/job_status",
//     warmEndpoint: "https://…/warm", warmHours: "7-22", variantEndpoint: "https://…/variant" });
//
// The page holds public endpoints only. The photo goes straight to Cloud Storage
// through a signed URL; the widget then follows the job until the cut-out is ready.

const ACCEPTED = ["image/jpeg", "image/png", "image/webp"];
const MAX_BYTES = 30 * 1024 * 1024;
const WARM_KEY = "petUpload.warmedAt";
const WARM_EVERY_MS = 10 * 60 * 1000;
// Poll quickly at first (a warm job takes seconds), then ease off to stay well
// inside the per-session rate limit during a cold start.
const POLL_DELAYS_MS = [500, 750, 1000, 1000, 1000, 1500, 1500, 2000, 2000, 3000];

// What a shopper reads for each reason the pipeline gives.
const MESSAGES = {
  unsupported_type: "That file type isn't supported. Please choose a JPEG, PNG or WebP photo.",
  not_an_image: "That file isn't a photo we can use. Please choose a JPEG, PNG or WebP photo.",
  type_mismatch: "That file isn't the kind of photo its name says. Please choose a JPEG, PNG or WebP photo.",
  too_large: "That photo is too large. Please choose one under 30 MB.",
  too_many_pixels: "That photo has too many pixels for us to process. Please choose a smaller one.",
  empty_file: "That file is empty. Please choose another photo.",
  truncated_image: "That photo seems to be damaged or incomplete. Please try another one.",
  corrupt_image: "That photo seems to be damaged. Please try another one.",
  animated_image: "Animated images can't be printed. Please choose a still photo.",
  too_many_scans: "That photo is saved in a way we can't process. Please save it again as a normal JPEG, or try another one.",
  over_memory_budget: "That photo is too big for us to process. Please choose a smaller one.",
  over_cpu_budget: "That photo is too big for us to process. Please choose a smaller one.",
  content_encoded: "That upload was compressed on the way. Please upload the photo file itself.",
  no_subject: "We couldn't find your pet in that photo. Please choose one where your pet stands out from the background.",
  timed_out: "This is taking longer than it should. Please try again in a minute.",
  rate_limited: "We're busy right now. Please try again in a moment.",
  busy: "We're busy right now. Please try again in a moment.",
  network: "We couldn't reach the upload service. Please check your connection and try again.",
  upload_failed: "The upload didn't go through. Please try again.",
  failed: "Something went wrong on our side while cutting out your pet. Please try again.",
  // The variant function's reasons (background and effect switches).
  photo_expired: "We keep photos for 7 days. Please upload your photo again to change its look.",
  no_mask: "This cut-out can't be changed. Please upload your photo again.",
  variant_failed: "We couldn't change the look just now. Please try again.",
  too_many_variants: "You've tried every look we can make for this photo. Pick one you've already seen.",
};

export function messageFor(reason) {
  return MESSAGES[reason] || MESSAGES.failed;
}

// The session is the server's: upload_url signs one and the widget sends it back
// (a made-up id counts as none). Kept for the tab's life in sessionStorage.
const SESSION_KEY = "petUpload.session";

function storedSession() {
  try {
    return sessionStorage.getItem(SESSION_KEY) || "";
  } catch {
    return ""; // storage disabled: a session per page view
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// "7-22": from 07:00 to 21:59 local time. "0-24" is always; "" is never.
export function inWarmHours(spec, now = new Date()) {
  const match = /^(\d{1,2})-(\d{1,2})$/.exec(spec || "");
  if (!match) return false;
  const [from, to] = [Number(match[1]), Number(match[2])];
  const hour = now.getHours();
  return from <= to ? hour >= from && hour < to : hour >= from || hour < to;
}

// The subject gate (domain/subject.py): a job that failed for want of a subject says so (the
// shopper can pick another photo); a weak subject still ends done, with a notice under the cut-out.
const SHOPPER_FAILURES = ["no_subject"];
const LOW_CONFIDENCE_NOTICE = "We weren't sure where your pet ends and the background begins. " +
  "Please check the cut-out before ordering, or try a photo where your pet stands out.";

function failureReason(job) {
  return job.state === "rejected" || SHOPPER_FAILURES.includes(job.reason) ? job.reason : "failed";
}

function showConfidence(root, job) {
  let notice = root.querySelector(".pet-upload__notice");
  if (!notice) {
    notice = document.createElement("p");
    notice.className = "pet-upload__notice";
    notice.setAttribute("role", "note");
    root.querySelector(".pet-upload__message").after(notice);
  }
  notice.hidden = !job.low_confidence;
  notice.textContent = job.low_confidence ? LOW_CONFIDENCE_NOTICE : "";
}

class Refused extends Error {
  constructor(reason, retryAfter = 0) {
    super(reason);
    this.reason = reason;
    this.retryAfter = retryAfter;
  }
}

export function mount(root, config) {
  const options = { outputFormat: "png", timeoutSeconds: 120,
                    productTemplate: new URL("./mug.svg", import.meta.url).href, ...config };
  root.classList.add("pet-upload");
  root.innerHTML = `
    <label class="pet-upload__drop" tabindex="0">
      <input class="pet-upload__input" type="file" accept="${ACCEPTED.join(",")}" hidden>
      <span class="pet-upload__prompt">Drop a photo of your pet here, or <u>choose one</u></span>
    </label>
    <div class="pet-upload__images">
      <figure hidden class="pet-upload__preview-box"><img class="pet-upload__preview" alt="Your photo">
        <figcaption>Your photo</figcaption></figure>
      <figure hidden class="pet-upload__result-box"><img class="pet-upload__result" alt="Your pet, cut out">
        <figcaption>Cut out</figcaption></figure>
      <figure hidden class="pet-upload__product-box"><div class="pet-upload__product">
        <img class="pet-upload__on-product" alt="Your pet on the mug"></div>
        <figcaption>On your mug</figcaption></figure>
    </div>
    ${VARIANT_CONTROLS}
    <progress class="pet-upload__progress" max="100" value="0" hidden></progress>
    <p class="pet-upload__message" role="status" aria-live="polite"></p>`;
  const $ = (selector) => root.querySelector(selector);
  const drop = $(".pet-upload__drop");
  const input = $(".pet-upload__input");
  const progress = $(".pet-upload__progress");
  const message = $(".pet-upload__message");
  let session = storedSession();
  let busy = false;
  const variants = variantSwitches(root, options, () => session, show);
  // The mug follows the look the shopper picks.
  root.addEventListener("pet-upload:variant", (e) =>
    placeOnProduct(e.detail.url).catch((error) => console.warn("product preview:", error)));

  function keepSession(token) {
    if (!token || token === session) return;
    session = token;
    try { sessionStorage.setItem(SESSION_KEY, token); } catch { /* kept for this page view only */ }
  }

  function show(state, text, reason = "") {
    root.dataset.state = state;
    message.dataset.reason = reason;
    message.textContent = text;
  }
  show("idle", "");

  // --- warm the GPU service when a shopper shows intent ---------------------
  function warm() {
    if (!options.warmEndpoint || !inWarmHours(options.warmHours)) return;
    try {
      const last = Number(localStorage.getItem(WARM_KEY) || 0);
      if (Date.now() - last < WARM_EVERY_MS) return;
      localStorage.setItem(WARM_KEY, String(Date.now()));
    } catch {
      return; // no storage, no way to keep to once per 10 minutes: skip
    }
    // Fire and forget: the page never waits on it. The public warm function decides
    // with the server's policy (hours, recent jobs, the hourly cap, the budget).
    fetch(options.warmEndpoint, {
      method: "POST", keepalive: true, headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session_id: session, trigger: "upload_control" }),
    }).catch(() => {});
  }
  drop.addEventListener("pointerenter", warm);
  drop.addEventListener("focus", warm);
  input.addEventListener("focus", warm);

  // --- pick or drop ---------------------------------------------------------
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
  input.addEventListener("change", () => input.files[0] && start(input.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("is-over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("is-over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("is-over");
    if (e.dataTransfer.files[0]) start(e.dataTransfer.files[0]);
  });

  async function start(file) {
    if (busy) return;
    busy = true;
    $(".pet-upload__result-box").hidden = true;
    $(".pet-upload__product-box").hidden = true;
    showConfidence(root, {});
    variants.reset();
    try {
      await run(file);
    } catch (error) {
      const reason = error instanceof Refused ? error.reason : "network";
      show("error", messageFor(reason), reason);
      progress.hidden = true;
    } finally {
      busy = false;
      input.value = "";
    }
  }

  async function run(file) {
    // Checked here to spare a round trip; the server checks again, and intake checks the bytes.
    if (!ACCEPTED.includes(file.type)) throw new Refused("unsupported_type");
    if (file.size > MAX_BYTES) throw new Refused("too_large");
    if (file.size === 0) throw new Refused("empty_file");
    preview(file);
    show("requesting", "Getting ready to upload…");
    const grant = await requestUpload(file);
    show("uploading", "Uploading… 0%");
    await put(file, grant);
    show("processing", "Uploaded. Cutting out your pet…");
    const job = await follow(grant.job_id);
    $(".pet-upload__result").src = job.result_url;
    $(".pet-upload__result-box").hidden = false;
    await $(".pet-upload__result").decode().catch(() => {});
    // Without the mock-up the bare cut-out still stands.
    await placeOnProduct(job.result_url).catch((error) => console.warn("product preview:", error));
    // A weak subject is not announced as print-ready: the notice below says what to check.
    show("done", job.low_confidence ? "Here's your pet's cut-out." : "Here's your pet, ready for printing.");
    showConfidence(root, job);
    variants.offer(grant.job_id);
  }

  function preview(file) {
    const img = $(".pet-upload__preview");
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(file);
    $(".pet-upload__preview-box").hidden = false;
  }

  // --- the cut-out on the product ------------------------------------------
  // The mock-up is an SVG beside this module (mug.svg); its #print-area rect says where the
  // print goes. The cut-out is fitted into it, centred, keeping its proportions, and placed in
  // percentages of the drawing so it stays put at any width. Call again with a new URL to swap it.
  async function placeOnProduct(url) {
    const stage = $(".pet-upload__product");
    let svg = stage.querySelector("svg");
    if (!svg) {
      const response = await fetch(options.productTemplate);
      if (!response.ok) throw new Error(`product template: ${response.status}`);
      const drawing = new DOMParser().parseFromString(await response.text(), "image/svg+xml").documentElement;
      svg = stage.insertBefore(document.importNode(drawing, true), stage.firstChild);
    }
    const area = svg.querySelector("#print-area");
    const view = svg.viewBox.baseVal;
    const [x, y, w, h] = ["x", "y", "width", "height"].map((name) => area[name].baseVal.value);
    const img = $(".pet-upload__on-product");
    img.src = url;
    await img.decode();
    const scale = Math.min(w / img.naturalWidth, h / img.naturalHeight);
    const [fitW, fitH] = [img.naturalWidth * scale, img.naturalHeight * scale];
    const percent = (value, of) => `${(100 * value) / of}%`;
    Object.assign(img.style, {
      left: percent(x - view.x + (w - fitW) / 2, view.width), top: percent(y - view.y + (h - fitH) / 2, view.height),
      width: percent(fitW, view.width), height: percent(fitH, view.height) });
    $(".pet-upload__product-box").hidden = false;
  }

  // POST to the upload-URL function; a 429 is retried after its Retry-After, twice.
  async function requestUpload(file) {
    const body = JSON.stringify({ content_type: file.type, size: file.size, session_id: session,
                                  output_format: options.outputFormat });
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(options.uploadUrlEndpoint, {
        method: "POST", headers: { "Content-Type": "application/json" }, body });
      if (response.status === 201) {
        const grant = await response.json();
        keepSession(grant.session_id);
        return grant;
      }
      const answer = await response.json().catch(() => ({}));
      const retryAfter = Number(response.headers.get("Retry-After") || 0);
      if (response.status === 429 && attempt < 2 && retryAfter <= 10) {
        show("waiting", `We're busy; trying again in ${retryAfter || 1} s…`, "rate_limited");
        await sleep((retryAfter || 1) * 1000);
        continue;
      }
      throw new Refused(response.status === 429 ? "rate_limited" : answer.error || "failed", retryAfter);
    }
  }

  // PUT straight to Cloud Storage with the signed headers, reporting progress.
  function put(file, grant) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(grant.method || "PUT", grant.upload_url);
      for (const [name, value] of Object.entries(grant.headers || {})) xhr.setRequestHeader(name, value);
      progress.hidden = false;
      progress.value = 0;
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        const percent = Math.round((100 * e.loaded) / e.total);
        progress.value = percent;
        progress.dataset.seen = `${progress.dataset.seen || ""} ${percent}`.trim();
        show("uploading", `Uploading… ${percent}%`);
      };
      xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve()
        : reject(new Refused(xhr.status === 429 || xhr.status === 503 ? "busy" : "upload_failed")));
      xhr.onerror = () => reject(new Refused("network"));
      xhr.send(file);
    });
  }

  async function follow(jobId) {
    const deadline = Date.now() + options.timeoutSeconds * 1000;
    // POSTed: the job id stays out of URLs (and so out of request logs and the browser's history).
    const request = { method: "POST", headers: { "Content-Type": "application/json" },
                      body: JSON.stringify({ job_id: jobId, session_id: session }) };
    for (let poll = 0; Date.now() < deadline; poll++) {
      const response = await fetch(options.statusEndpoint, request);
      if (response.status === 429) {
        await sleep(Number(response.headers.get("Retry-After") || 1) * 1000);
        continue;
      }
      if (!response.ok) throw new Refused(response.status >= 500 ? "busy" : "failed");
      const job = await response.json();
      if (job.state === "done") return job;
      if (job.state === "rejected" || job.state === "failed") {
        throw new Refused(failureReason(job));
      }
      progress.hidden = true;
      show("processing", job.state === "processing" ? "Cutting out your pet…" : "Uploaded. Waiting for our studio…");
      await sleep(POLL_DELAYS_MS[Math.min(poll, POLL_DELAYS_MS.length - 1)]);
    }
    throw new Refused("timed_out");
  }

  return { warm, start, placeOnProduct, get sessionId() { return session; } };
}

// --- background and effect switches (the variant function) -------------------
// A done job's cut-out re-rendered from its stored mask: no new upload, no GPU. Each
// change asks for one spec; the same spec is the same stored object, so switching back
// and forth costs one render per look. The widget announces each new picture with a
// `pet-upload:variant` event ({ detail: { url, spec } }) so a product preview can follow.

const VARIANT_CONTROLS = `
    <div class="pet-upload__variants" hidden>
      <fieldset class="pet-upload__backgrounds"><legend>Background</legend>
        <label><input type="radio" name="pet-upload-background" value="transparent" checked> None</label>
        <label><input type="radio" name="pet-upload-background" value="white"> White</label>
        <label><input type="radio" name="pet-upload-background" value="colour"> Colour</label>
        <input type="color" class="pet-upload__colour" value="#1e90ff" aria-label="Background colour">
      </fieldset>
      <fieldset class="pet-upload__effects"><legend>Effect</legend>
        <label><input type="radio" name="pet-upload-effect" value="none" checked> Colour photo</label>
        <label><input type="radio" name="pet-upload-effect" value="blackwhite"> Black and white</label>
      </fieldset>
    </div>`;

function variantSwitches(root, options, session, show) {
  const box = root.querySelector(".pet-upload__variants");
  const result = root.querySelector(".pet-upload__result");
  const colour = root.querySelector(".pet-upload__colour");
  const message = root.querySelector(".pet-upload__message");
  let jobId = null;
  let asked = 0; // only the latest answer is shown when switches change quickly

  function spec() {
    const background = root.querySelector("[name=pet-upload-background]:checked").value;
    const effect = root.querySelector("[name=pet-upload-effect]:checked").value;
    // WebP keeps the transparency and is about a third of a PNG's bytes.
    return { format: "webp", effect, background: background === "colour" ? colour.value : background };
  }

  async function render() {
    if (!jobId || !options.variantEndpoint) return;
    const ticket = ++asked;
    const wanted = spec();
    const recovering = root.dataset.variant === "error" || message.dataset.reason;
    root.dataset.variant = "loading";
    try {
      const response = await fetch(options.variantEndpoint, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ job_id: jobId, session_id: session(), spec: wanted }) });
      const answer = await response.json().catch(() => ({}));
      if (ticket !== asked) return;
      if (!response.ok) {
        const reason = MESSAGES[answer.error] ? answer.error : response.status === 429 ? "rate_limited" : "variant_failed";
        root.dataset.variant = "error";
        show("done", messageFor(reason), reason);
        return;
      }
      result.src = answer.url;
      await result.decode().catch(() => {});
      if (ticket !== asked) return;
      root.dataset.variant = "shown";
      root.dataset.variantObject = answer.object;
      if (recovering) show("done", "Here's your pet's cut-out.");  // clears the earlier switch's error
      root.dispatchEvent(new CustomEvent("pet-upload:variant", { detail: { url: answer.url, spec: wanted } }));
    } catch {
      if (ticket !== asked) return;
      root.dataset.variant = "error";
      show("done", messageFor("network"), "network");
    }
  }

  box.addEventListener("change", render);
  colour.addEventListener("input", () => {
    root.querySelector("[name=pet-upload-background][value=colour]").checked = true;
  });

  return {
    offer(id) {
      if (!options.variantEndpoint) return;
      jobId = id;
      box.hidden = false;
    },
    reset() {
      jobId = null;
      asked++;
      box.hidden = true;
      delete root.dataset.variant;
      for (const name of ["pet-upload-background", "pet-upload-effect"]) {
        root.querySelector(`[name=${name}]`).checked = true;
      }
    },
  };
}
