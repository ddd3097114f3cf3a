"""The file names of a training run directory: the one place every reader and writer takes them from.

    run/
      config.json                  what was asked for (model, dataset, recipe, precision, ...)
      checkpoints/epoch-0003.npz   model + optimizer variables, epoch, step, RNG, history
      history.json                 loss, accuracy, learning rate, slope statistics per epoch
      logs/train, logs/validation  TensorBoard event files
      model.keras, final.weights.h5  the final model
      model_card.json, model_card.md
"""

CONFIG = "config.json"
HISTORY = "history.json"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
MODEL_FILE = "model.keras"
WEIGHTS_FILE = "final.weights.h5"
MODEL_CARD_JSON = "model_card.json"
MODEL_CARD_MD = "model_card.md"
#: The weights inside a Keras v3 archive; also accepted on its own in a run directory.
KERAS_ARCHIVE_WEIGHTS = "model.weights.h5"
#: Files holding a run's final weights, in order of preference.
RUN_WEIGHT_FILES = (MODEL_FILE, WEIGHTS_FILE, KERAS_ARCHIVE_WEIGHTS)
#: Keys of `config.json` that give the trained model's input shape (no batch axis) and classes.
CONFIG_INPUT_SHAPE = "model_input_shape"
CONFIG_NUM_CLASSES = "num_classes"
#: Key of `model_card.json` recording the final files' sha256: {file name: digest}.
FINAL_FILES_KEY = "final_files"
