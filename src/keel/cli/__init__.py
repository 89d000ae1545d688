"""The ``keel`` command line: parse, build config, call one library function, show the result."""
