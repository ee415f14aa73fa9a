"""A plausible town grown around a real water network: the parts of the built-in demo city.

The water network is real (wntr's ky10); everything else is generated from it
so the layers agree with each other the way a real city's do: streets run over
the mains, houses line the streets and hold the people the junction demands
serve, gas mains and sewers share the street, sensors sit on real features.
Each module grows one family of layers from a :class:`twin.town.plan.TownPlan`;
:func:`twin.demo.build_demo` calls them in order.
"""
