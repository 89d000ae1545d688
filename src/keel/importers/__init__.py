"""Importers: bring a business's own data into Keel's formats without reading Keel's source.

- :mod:`keel.importers.policy` splits a long Markdown or HTML policy into KB documents by headings;
- :mod:`keel.importers.faq` turns an FAQ table (CSV, XLSX) into one KB document per row;
- :mod:`keel.importers.customers` maps customer and order tables onto Keel's user state (a users JSON file).

Every importer checks what it makes with Keel's own reader (the KB parser, the JSON state provider)
and writes all or nothing.
"""
