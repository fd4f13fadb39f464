"""Image VAEs (convolutional and MLP) trained through the shared core and trainer."""
