"""SkinTag: AI-assisted skin-lesion triage with Fitzpatrick-stratified fairness analytics.

The package is the single source of every number the app shows. Heavy dependencies (torch, transformers,
xgboost, shap) are imported only inside the modules that need them, so ``import skintag`` stays cheap.
"""

__version__ = "0.1.0"
