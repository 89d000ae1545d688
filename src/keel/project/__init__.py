"""A business's project folder: scaffold it (`keel init`), check it (`keel check`), set it up (`keel setup`)."""
