from keras_prelu.study._legacy import *  # noqa  (temporary during the split)
from keras_prelu.study._legacy import _accuracy, _cell_results, _mean_sd, _rows  # noqa
