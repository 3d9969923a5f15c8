"""Explanations of a triage: attention maps (MAP head, rollout), SHAP over the whole pipeline, and the
parameter-randomisation sanity check. Import the submodules (``attention``, ``shap_image``, ``sanity``) directly;
this package imports nothing heavy."""
