// The operator dashboard of projd (GET /): a hash router over three pages.
import "./style.css";
import {queryPage} from "./query_page.js";
import {viewPage} from "./view_page.js";
import {viewsPage} from "./views_page.js";

const main = document.getElementById("main");
const status = document.getElementById("status");
let stop = () => {};

function setStatus(text, bad = false) {
  status.textContent = text;
  status.classList.toggle("bad", bad);
}

function route() {
  stop();
  const h = location.hash || "#/";
  document.getElementById("nav-views").classList.toggle("on", h === "#/" || h.startsWith("#/view/"));
  document.getElementById("nav-query").classList.toggle("on", h === "#/query");
  if (h.startsWith("#/view/")) {
    const name = decodeURIComponent(h.slice("#/view/".length));
    document.title = `${name} - projd`;
    stop = viewPage(main, name, setStatus);
  } else if (h === "#/query") {
    document.title = "query - projd";
    stop = queryPage(main, setStatus);
  } else {
    document.title = "projd";
    stop = viewsPage(main, setStatus);
  }
}

window.addEventListener("hashchange", route);
route();
