"""Adversarial training inside ``model.fit`` and adversarial data augmentation (uses attacks only)."""
