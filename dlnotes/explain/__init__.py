"""Looking inside a trained model: what each layer computes, where the model looks, what the gates do.

One module per idea, each a set of functions that take a model, a prepared input and (where it
matters) a layer name, and return numpy arrays (Captum's rule: one verb, arrays shaped like what they
explain); ``figures`` draws them, and nothing here draws while it computes.

    layers        layers by name, their outputs during a pass (forward hooks), in-place activations off
    activations   feature maps of every conv and pool layer, the first layer's filters, LRN's local contrast
    attribution   Grad-CAM (Selvaraju et al. 2017) and gradient saliency, and the model-randomisation
                  sanity check (Adebayo et al. 2018)
    recurrent     an LSTM's or GRU's gates, cell and hidden state over time, from the scratch step equations
    tabular       w_i x_i contributions of linear models; permutation importance for the others
    interpret     after a classification test: the top losses and the most-confused pairs (fastai's
                  ``ClassificationInterpretation``), from the outputs the test kept
    figures       the pictures of all of the above
    report        ``dlnotes explain``: one input of a run, every array in explain.npz, every figure beside it

Layers are named as ``model.named_modules()`` names them (``features.0``), the names ``dlnotes summary``
prints. Nothing here imports the tasks or the CLI; the engine never imports this package (the
training-time gradient statistics live in ``dlnotes.engine.tracking``).
"""
