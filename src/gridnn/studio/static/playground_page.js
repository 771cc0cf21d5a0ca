// index.html's entry (the Content-Security-Policy allows no inline script): the top bar and
// one playground mounted on #playground, talking to this server.
import {api, renderNav} from "./common.js";
import {mountPlayground} from "./playground.js";

function fail(error) {
  const box = document.getElementById("page-error");
  box.textContent = String(error.message || error);
  box.hidden = false;
}

renderNav("playground").catch(fail);
mountPlayground(document.getElementById("playground"), api)
  .then(() => { document.body.dataset.ready = "1"; }, fail);
