"""Answer generators behind one small interface (see ``base.Generator``)."""
