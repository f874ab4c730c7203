// Loaded between require.js and embed-amd.js (see nb_ipywidgets_js in _config.yml).
// embed-amd.js defines its AMD modules inline, and each finds the fonts its CSS refers to
// relative to its module URL, which RequireJS derives from the page's folder by default
// (book/@jupyter-widgets/...: 404). Mapping the module names into this script's folder,
// _static/widgets/, where web/copy-assets.mjs puts the fonts, makes those URLs resolve.
(function () {
  var dir = document.currentScript.src.replace(/[^/]*$/, "");
  var names = [
    "@jupyter-widgets/base",
    "@jupyter-widgets/base7",
    "@jupyter-widgets/controls",
    "@jupyter-widgets/controls7",
    "@jupyter-widgets/html-manager",
    "@jupyter-widgets/html-manager/dist/libembed-amd",
  ];
  var paths = {};
  names.forEach(function (name) {
    paths[name] = dir + name.split("/").pop();
  });
  window.require.config({ paths: paths });
})();
