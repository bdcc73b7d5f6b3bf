"""Certification of the sketch by an independent sketch (part II): the bound on constructed data,
certified epsilon against the measured distortion and against k, adaptive k reaching a target."""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.embedding import certification_omega, certified_distortion
from solvers.mor.sketched import SketchedReductor
from tests.solvers.mor.test_sketched import Dense, explicit, make_model, rel, snapshots

SELF = MPI.COMM_SELF


def test_certified_distortion_on_constructed_data(rng):
    d = 4
    s = np.array([1.3, 1.1, 0.9, 0.8])
    U, _ = np.linalg.qr(rng.standard_normal((50, d)))
    V, _ = np.linalg.qr(rng.standard_normal((d, d)))
    T = rng.standard_normal((d, d)) + 5 * np.eye(d)          # X's Theta-image is T, not orthonormal
    PX = U @ np.diag(s) @ V.T @ T                            # so Phi W = U diag(s) V^T, W = X T^{-1}
    TX = np.vstack((T, np.zeros((6, d))))
    om = (0.2, 0.3)
    want = max(1 - (1 - om[0]) / s[0] ** 2, (1 + om[1]) / s[-1] ** 2 - 1)
    assert certified_distortion(TX, PX, om) == pytest.approx(want, rel=1e-12)
    lo, hi = certified_distortion(TX, PX, om, sides=True)
    assert (lo, hi) == pytest.approx((1 - (1 - om[0]) / s[0] ** 2, (1 + om[1]) / s[-1] ** 2 - 1), rel=1e-12)
    assert certified_distortion(TX, PX, 0.25) == pytest.approx(
        max(1 - 0.75 / s[0] ** 2, 1.25 / s[-1] ** 2 - 1), rel=1e-12)
    # a null direction of Theta X that Phi X sees: Theta annihilates part of the space
    TX0 = TX.copy()
    TX0[:, -1] = 0.0
    assert certified_distortion(TX0, PX, om) == np.inf
    # a rank-deficient X (the same null direction for both) is fine
    X2 = np.column_stack((TX, TX[:, :1]))
    P2 = np.column_stack((PX, PX[:, :1]))
    assert certified_distortion(X2, P2, om) == pytest.approx(want, rel=1e-9)
    assert certified_distortion(np.zeros((5, 0)), np.zeros((7, 0))) == 0.0
    assert certified_distortion(TX, PX * np.nan) == np.inf
    with pytest.raises(ValueError, match="same"):
        certified_distortion(TX, PX[:, :2])


def test_certification_omega():
    lo, hi = certification_omega(1000, 10, 1e-3)
    assert 0 < lo < hi < 1
    assert certification_omega(4000, 10, 1e-3)[1] < hi          # more rows: smaller
    assert certification_omega(1000, 40, 1e-3)[1] > hi          # larger dimension: larger
    assert certification_omega(1000, 10, 1e-6)[1] > hi          # smaller failure probability: larger
    assert certification_omega(10, 10)[0] == 1.0                 # no lower bound


def test_certified_epsilon_bounds_the_distortion_and_decreases_with_k():
    model, D = make_model(), Dense()
    W = snapshots(model, 4)
    phi = rs.Gaussian(3000, seed=99)
    certified, measured = [], []
    for k in (20, 80, 320, 1280):
        red = SketchedReductor(model, rs.Gaussian(k, seed=1), certify_sketch=phi)
        red.extend_basis(W)
        rec = red.certify()
        Th, _ = explicit(red)
        eps = D.distortion(Th, red.basis)
        assert eps <= rec["epsilon"]                              # the certificate holds
        certified.append(rec["epsilon"])
        measured.append(eps)
        assert red.certification_history[-1] is rec and rec["k"] == k and rec["r"] == 4
    assert all(a > b for a, b in zip(certified, certified[1:])), certified
    assert certified[-1] < 0.5


def test_residual_space_certificate():
    model, D = make_model(), Dense()
    W = snapshots(model, 3)
    phi = rs.Gaussian(3000, seed=98)
    small = SketchedReductor(model, rs.Gaussian(8, seed=1), certify_sketch=phi)
    small.extend_basis(W)
    assert small.certify()["epsilon_residual"] == np.inf        # 4 * 3 + 2 = 14 > k = 8 dimensions
    big = SketchedReductor(model, rs.Gaussian(800, seed=1), certify_sketch=phi, certify="residual")
    big.extend_basis(W)
    rec = big.certify()
    Th, _ = explicit(big)
    U = big.basis
    eps = D.distortion(Th, np.concatenate([D.riesz(A @ U) for A in D.A] + [D.riesz(D.b)], axis=1))
    assert eps <= rec["epsilon_residual"] < 1


def test_target_epsilon_grows_k_and_records_history():
    model, D = make_model(), Dense()
    W = snapshots(model, 4)
    phi = rs.Gaussian(3000, seed=97)
    red = SketchedReductor(model, rs.SparseSign(10, seed=2), "minres", certify_sketch=phi,
                           target_epsilon=0.6, max_k=2000)
    assert red.keep_riesz
    for j in range(4):
        red.extend_basis(W[:, j])
    hist = red.certification_history
    ks = [h["k"] for h in hist]
    assert ks == sorted(ks) and ks[-1] > 10 and len(set(ks)) > 2
    assert all(b in (a, 2 * a) for a, b in zip(ks, ks[1:]))    # doubling
    assert hist[-1]["target_reached"] and hist[-1]["epsilon"] <= 0.6
    assert red.k == ks[-1] and len(red.sketch.blocks) > 1
    # after the growth the stored sketches are those of the stacked sketch (dense reference)
    rom = red.reduce()
    Th, Ph = explicit(red)
    U = red.basis
    assert Th.shape[0] == red.k
    assert rel(rom.arrays["U_theta"], Th @ U) < 1e-12
    for q, A in enumerate(D.A):
        assert rel(rom.arrays["V"][q], Th @ D.riesz(A @ U)) < 1e-12
    assert rel(rom.arrays["f"], (Th @ D.riesz(D.b)).T) < 1e-12
    assert rel(rom.arrays["Phi_V"][1], Ph @ D.riesz(D.A[1] @ U)) < 1e-12
    assert rom.meta["k"] == red.k and rom.meta["certification"]["target_reached"]
    # recomputing the Riesz representatives (keep_riesz=False) gives the same sketches
    red2 = SketchedReductor(model, rs.SparseSign(10, seed=2), "minres", certify_sketch=phi,
                            target_epsilon=0.6, max_k=2000, keep_riesz=False)
    for j in range(4):
        red2.extend_basis(W[:, j])
    assert [h["k"] for h in red2.certification_history] == ks
    for name in ("U_theta", "V", "f", "G", "g"):
        assert rel(red2.reduce().arrays[name], rom.arrays[name]) < 1e-10, name
    # the sketch after the growth still solves well
    mu = model.parameter_space.sample(1, seed=5)[0]
    A, b = D.assemble(model, mu)
    u = np.linalg.solve(A, b)
    assert D.energy_norm(u - red.reconstruct(rom.solve(mu))) < 0.2 * D.energy_norm(u)


def test_target_not_reached_within_max_k():
    model = make_model()
    red = SketchedReductor(model, rs.SparseSign(10, seed=2), certify_sketch=rs.Gaussian(300, seed=3),
                           target_epsilon=0.05, max_k=40)
    red.extend_basis(snapshots(model, 3))
    last = red.certification_history[-1]
    assert not last["target_reached"] and last["k"] == 40 and last["epsilon"] > 0.05


def test_online_certificate_per_mu():
    model, D = make_model(convection=True), Dense(convection=True)
    alpha = 0.5          # the symmetric part of A(mu) is >= min(mu_0, mu_1, mu_2, 1) R_U >= 0.5 R_U
    red = SketchedReductor(model, rs.SparseSign(300, seed=4), "minres", certify_sketch=rs.Gaussian(3000, seed=5),
                           coercivity_estimator=alpha)
    red.extend_basis(snapshots(model, 5))
    rom = red.reduce()
    Th, _ = explicit(red)
    U = red.basis
    for mu in model.parameter_space.sample(5, seed=6):
        A, b = D.assemble(model, mu)
        eps_mu = D.distortion(Th, np.column_stack((D.riesz(A @ U), D.riesz(b))))
        eps_bar = rom.certify(mu)
        assert eps_mu <= eps_bar < 1
        sol = rom.solve(mu, return_info=True)
        r = D.dual_norm(b - A @ red.reconstruct(sol.a))
        cert = rom.estimate_error_certified(mu)
        lower = rom._certify_sides(mu)[0]
        assert lower <= eps_bar
        assert cert == pytest.approx(sol.estimate / np.sqrt(1 - lower))
        assert cert * alpha >= r                                 # an upper bound of the dual residual
