"""`.keras`: the model saved as a Keras v3 archive, reloaded and checked against itself."""

import keras

from keras_prelu.export.verify import keras_outputs


def _dims(shape):
    return tuple(-1 if s is None else int(s) for s in shape)


def export_keras(job, file):
    """Save `job`'s model to `file` (ending in .keras) and verify the reload: {parity, inputs, outputs}."""
    job.model.save(file)
    reloaded = keras.saving.load_model(file, compile=False)
    parity = job.check(lambda x: keras_outputs(reloaded, x, job.out_names), "The reloaded .keras model")
    inputs = {job.in_name: (job.spec.dtype.name, _dims(job.spec.shape))}
    outputs = {
        name: (keras.backend.standardize_dtype(tensor.dtype), _dims(tensor.shape))
        for name, tensor in zip(job.out_names, keras.tree.flatten(job.model.outputs))
    }
    return {"parity": parity, "inputs": inputs, "outputs": outputs}
