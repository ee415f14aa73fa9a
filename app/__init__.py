"""The desktop side of Lifeline Twin: command line, 3D scene, window."""
