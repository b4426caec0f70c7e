// Direct uploads from the upload page: each file goes straight to S3 through a presigned POST
// (so large files never pass through the portal), with a real progress bar per file, Cancel
// and Retry. Without this script the same form posts the files to the portal instead.
(function () {
  "use strict";

  var form = document.getElementById("upload-form");
  if (!form || !window.fetch || !window.FormData || !window.XMLHttpRequest) {
    return; // the plain form keeps working
  }
  var panel = document.getElementById("upload-progress");
  var list = document.getElementById("upload-list");
  var summary = document.getElementById("upload-summary");
  var fileInput = document.getElementById("upload-files");
  var csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var uploads = [];
  var counter = 0;

  // Browsers leave the type empty for some pictures (HEIC on most desktops); S3 only takes a
  // declared image type, and the portal checks the bytes anyway.
  var TYPES_BY_EXTENSION = {
    jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", gif: "image/gif",
    webp: "image/webp", avif: "image/avif", heic: "image/heic", heif: "image/heif"
  };

  function declaredType(file) {
    if (file.type) {
      return file.type;
    }
    var extension = (file.name.split(".").pop() || "").toLowerCase();
    return TYPES_BY_EXTENSION[extension] || "application/octet-stream";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": csrfToken
      },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, ok: response.ok, data: data };
      });
    });
  }

  // What went wrong, in words; `retry` says whether trying again can help.
  function apiProblem(answer) {
    var detail = answer.data && answer.data.detail;
    var code = answer.data && answer.data.error;
    if (answer.status === 401) {
      return { text: "You were signed out. Sign in again in another tab, then retry.", retry: true };
    }
    if (code === "too_large" || code === "unsupported_type" || code === "quota_exceeded" ||
        code === "invalid") {
      return { text: sentence(detail || "The portal refused this file"), retry: false };
    }
    return { text: sentence(detail || "The portal could not take the file (error " + answer.status + ")"), retry: true };
  }

  function sentence(text) {
    text = String(text);
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(text) ? text : text + ".";
  }

  function imageUrl(id) {
    return form.dataset.imageUrl.replace(/\/0\/$/, "/" + encodeURIComponent(id) + "/");
  }

  function Upload(file, options) {
    counter += 1;
    this.file = file;
    this.options = options;
    this.state = "waiting";
    this.xhr = null;
    var id = "upload-" + counter;
    this.item = element("li", "upload-item");
    var label = element("label", "upload-name", file.name);
    label.htmlFor = id;
    this.progress = element("progress", "upload-bar");
    this.progress.id = id;
    this.progress.max = 100;
    this.progress.value = 0;
    this.percent = element("span", "upload-percent", "0%");
    this.percent.setAttribute("aria-hidden", "true");
    this.status = element("span", "upload-status", "Waiting…");
    this.status.setAttribute("aria-live", "polite");
    this.actions = element("span", "upload-actions");
    this.cancelButton = element("button", "button button-secondary button-small", "Cancel");
    this.cancelButton.type = "button";
    this.cancelButton.setAttribute("aria-label", "Cancel upload of " + file.name);
    this.retryButton = element("button", "button button-small", "Retry");
    this.retryButton.type = "button";
    this.retryButton.setAttribute("aria-label", "Retry upload of " + file.name);
    this.retryButton.hidden = true;
    this.openLink = element("a", "upload-open");
    this.openLink.hidden = true;
    var bar = element("span", "upload-bar-row");
    bar.appendChild(this.progress);
    bar.appendChild(this.percent);
    this.actions.appendChild(this.openLink);
    this.actions.appendChild(this.cancelButton);
    this.actions.appendChild(this.retryButton);
    this.item.appendChild(label);
    this.item.appendChild(bar);
    this.item.appendChild(this.status);
    this.item.appendChild(this.actions);
    this.item.dataset.state = this.state;
    this.cancelButton.addEventListener("click", this.cancel.bind(this));
    this.retryButton.addEventListener("click", this.start.bind(this));
  }

  Upload.prototype.show = function (state, text) {
    this.state = state;
    this.item.dataset.state = state;
    this.status.textContent = text;
    var active = state === "waiting" || state === "uploading";
    this.cancelButton.hidden = !active;
    this.retryButton.hidden = !(state === "failed" || state === "cancelled");
    updateSummary();
  };

  Upload.prototype.setPercent = function (percent) {
    this.progress.value = percent;
    this.percent.textContent = percent + "%";
  };

  Upload.prototype.start = function () {
    var upload = this;
    upload.cancelled = false;
    upload.setPercent(0);
    upload.show("waiting", "Getting ready…");
    postJson(form.dataset.startUrl, {
      filename: upload.file.name,
      content_type: declaredType(upload.file),
      size: upload.file.size
    }).then(function (answer) {
      if (upload.cancelled) {
        return;
      }
      if (answer.status !== 201) {
        var problem = apiProblem(answer);
        upload.show(problem.retry ? "failed" : "refused", "Not uploaded: " + problem.text);
        return;
      }
      upload.send(answer.data);
    }, function () {
      if (!upload.cancelled) {
        upload.show("failed", "Not uploaded: the portal could not be reached. Check your connection.");
      }
    });
  };

  Upload.prototype.send = function (post) {
    var upload = this;
    var body = new FormData();
    Object.keys(post.fields).forEach(function (name) {
      body.append(name, post.fields[name]);
    });
    body.append("file", upload.file); // S3 wants the file last
    var xhr = new XMLHttpRequest();
    upload.xhr = xhr;
    xhr.open("POST", post.url);
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable) {
        upload.setPercent(Math.floor((event.loaded / event.total) * 100));
      }
    };
    xhr.onload = function () {
      upload.xhr = null;
      if (xhr.status >= 200 && xhr.status < 300) {
        upload.setPercent(100);
        upload.complete(post.upload_id);
      } else {
        upload.show("failed", "Not uploaded: the storage refused the file (error " + xhr.status + ").");
      }
    };
    xhr.onerror = function () {
      upload.xhr = null;
      upload.show("failed", "Not uploaded: the connection to the storage failed.");
    };
    xhr.onabort = function () {
      upload.xhr = null;
      upload.show("cancelled", "Cancelled.");
    };
    upload.show("uploading", "Uploading…");
    xhr.send(body);
  };

  Upload.prototype.complete = function (uploadId) {
    var upload = this;
    upload.show("checking", "Checking the picture…");
    postJson(form.dataset.completeUrl.replace("UPLOAD_ID", encodeURIComponent(uploadId)), upload.options)
      .then(function (answer) {
        if (answer.status !== 201) {
          var problem = apiProblem(answer);
          upload.show(problem.retry ? "failed" : "refused", "Not uploaded: " + problem.text);
          return;
        }
        upload.openLink.href = imageUrl(answer.data.id);
        upload.openLink.textContent = "Open “" + answer.data.title + "”";
        upload.openLink.hidden = false;
        upload.show("done", "Done.");
      }, function () {
        upload.show("failed", "Not uploaded: the portal could not be reached. Check your connection.");
      });
  };

  Upload.prototype.cancel = function () {
    this.cancelled = true;
    if (this.xhr) {
      this.xhr.abort(); // onabort says "Cancelled"
    } else {
      this.show("cancelled", "Cancelled.");
    }
  };

  function updateSummary() {
    var done = 0;
    var finished = 0;
    uploads.forEach(function (upload) {
      if (upload.state === "done") {
        done += 1;
      }
      if (["done", "failed", "cancelled", "refused"].indexOf(upload.state) !== -1) {
        finished += 1;
      }
    });
    summary.textContent = "";
    if (finished < uploads.length) {
      summary.textContent = "Uploading " + (uploads.length - finished) + " of " + uploads.length + " files…";
      return;
    }
    summary.appendChild(document.createTextNode(
      done + " of " + uploads.length + (uploads.length === 1 ? " file" : " files") + " uploaded. "));
    var gallery = element("a", "", "Go to your images");
    gallery.href = form.dataset.galleryUrl;
    summary.appendChild(gallery);
  }

  form.addEventListener("submit", function (event) {
    var files = Array.prototype.slice.call(fileInput.files || []);
    if (!files.length) {
      return; // the browser's "choose a file" message, as without the script
    }
    event.preventDefault();
    var options = {
      title: form.elements.title.value,
      keep_metadata: form.elements.keep_metadata.checked
    };
    panel.hidden = false;
    files.forEach(function (file) {
      var upload = new Upload(file, options);
      uploads.push(upload);
      list.appendChild(upload.item);
      upload.start();
    });
    fileInput.value = ""; // choose more files and upload them too
  });
})();
