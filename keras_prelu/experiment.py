"""The former path of `keras_prelu.training.experiment`, kept for code written against it:
importing it gives that very module.

    from keras_prelu.training import experiment   # the current path
"""

import sys

from keras_prelu.training import experiment

sys.modules[__name__] = experiment
