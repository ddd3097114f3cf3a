from keras_prelu.export._legacy import *  # noqa  (temporary during the split)
from keras_prelu.export._legacy import _export_keras, _write_saved_model  # noqa
