"""CDCN, CDCN++ and CDCN with the depth uncertainty module (DUM), ``docs/methods/dum.md``.

* :mod:`dum.model` - the networks (``conv1``, ``Block1..3``, ``lastconv1..3``, ``mu_head``,
  ``logvar_head``: the names of the released ``CDCN_U_P1.pkl``).
* :mod:`dum.dataset` - training and scoring datasets over the offline crop cache or online crops.
* :mod:`dum.train` / :mod:`dum.test` - command-line training and testing (``--help``).
* :mod:`dum.method` - the methods ``cdcn``, ``cdcnpp``, ``cdcn_u``: network, input, score rules, released weights.
"""
