"""What every part of the package stands on: argument checks, atomic writes, model walking,
run-directory file names, TensorBoard summaries, the Keras backend and optional TensorFlow.
Imports nothing above it."""
