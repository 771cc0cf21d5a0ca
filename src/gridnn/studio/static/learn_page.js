// learn.html's entry (the Content-Security-Policy allows no inline script): the top bar and
// the learn page mounted on #learn, its updates from the server's event stream.
import {api, renderNav} from "./common.js";
import {mountLearn} from "./learn.js";

function fail(error) {
  const box = document.getElementById("page-error");
  box.textContent = String(error.message || error);
  box.hidden = false;
}

renderNav("learn").catch(fail);
mountLearn(document.getElementById("learn"), api, (path) => new EventSource(path))
  .then(() => { document.body.dataset.ready = "1"; })
  .catch(fail);
