"""Looking inside a trained network: feature maps, filters and the confusion matrix, a run's
epochs replayed, Grad-CAM and occlusion, invariance probes, the unusual-input check, and the
convolution lab's hand-made kernels."""
