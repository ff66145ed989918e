"""A run out of the studio: its history (`history`: CSV, TensorBoard), its recipe as plain
Keras code (`code`, written as a notebook by `notebook` or as a script), and its trained
model for phones and small boards (`tflite`)."""
