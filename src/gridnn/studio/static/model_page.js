// model.html's entry (the Content-Security-Policy allows no inline script): the top bar and
// the model named by ?id= (or the first one served) mounted on #model.
import {api, renderNav} from "./common.js";
import {mountModel} from "./model.js";

function fail(error) {
  const box = document.getElementById("page-error");
  box.textContent = String(error.message || error);
  box.hidden = false;
}

async function main() {
  const list = await api("/api/models");
  if (!list.length) {
    renderNav(null).catch(fail);
    fail("This server serves no models: start it with a run folder or a zoo model name " +
         "(gridnn studio runs/NAME or gridnn studio fashion_cnn).");
    return;
  }
  const wanted = new URLSearchParams(location.search).get("id");
  const id = list.some((m) => m.id === wanted) ? wanted : list[0].id;
  renderNav(id).catch(fail);
  await mountModel(document.getElementById("model"), api, id);
  document.body.dataset.ready = "1";
}

main().catch(fail);
