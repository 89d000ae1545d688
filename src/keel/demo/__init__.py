"""The embedded demo shop (Harbor Goods / 港湾优品): KB versions, users, red-line rules."""
