"""The networks: the spec a student sets (validated, frozen) and its link form, its layer
table by arithmetic, its Keras model, the arithmetic it trains in, the device, and what a
run of it will cost in time and memory."""
