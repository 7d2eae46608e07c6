"""Writing files on any `tf.io.gfile` filesystem (local, gs://, ram://) whole and at once.

A file is written beside its destination and renamed over it: readers never see half a file,
object stores need no append, and TensorFlow's `ram://` filesystem, whose "w" mode appends to an
existing file instead of replacing it, gets the new content alone.

Example:
```python
write_text("gs://bucket/run/config.json", json.dumps(config))
```
"""

import tensorflow as tf


def write_bytes(path, content):
    temporary = f"{path}.tmp"
    if tf.io.gfile.exists(temporary):
        tf.io.gfile.remove(temporary)
    with tf.io.gfile.GFile(temporary, "wb") as f:
        f.write(content)
    tf.io.gfile.rename(temporary, path, overwrite=True)


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))
