"""Console pages, one module each; ``keel.console.routes.PAGES`` lists them in navigation order."""
