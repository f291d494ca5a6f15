"""HMR (frame model) and MVIPER (video model) sharing one encoder and one IEF regressor.

phi = [R and theta as 24 rotations in the 6D representation (the root rotation is the camera-frame
global rotation R), beta (10), orthographic camera (s, t_x, t_y)]: 144 + 10 + 3 = 157 numbers. 6D is
continuous, so regression is well posed; outputs are also given as rotation matrices and axis-angle.
The projection model is x_2d = s * X[:, :2] + t in crop coordinates [-1, 1] (see train/losses.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import roma
import torch
from torch import nn

from synth.errors import SynthError
from train.data import PART_CLASSES

NUM_JOINTS = 24
POSE_DIM = NUM_JOINTS * 6
BETA_DIM = 10
CAM_DIM = 3
PHI_DIM = POSE_DIM + BETA_DIM + CAM_DIM


@dataclass
class ModelConfig:
    backbone: str = "resnet50"  # torchvision resnet18/34/50
    weights: str = ""  # "" random init; a .pth path; "imagenet" = torchvision's file already in the torch hub cache
    attention_layer: str = "layer2"  # low-level feature map attended by MVIPER
    hidden: int = 2048  # LSTM hidden size
    regressor_width: int = 1024
    ief_iters: int = 3
    attention_dim: int = 256
    init_width: int = 1024  # width of the two hidden layers of the (c0, h0) MLP
    dropout: float = 0.5
    part_head: bool = False  # a dense bone-part head on layer2-4 (training signal only; see PartHead)
    joint_head: bool = False  # 2D joint heatmaps on layer2-4, soft-argmax coordinates fed to the regressor


def rotmat_to_6d(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns."""
    return R[..., :, :2].reshape(*R.shape[:-2], 6)


def sixd_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (Zhou et al. 2019)."""
    return roma.special_gramschmidt(x.reshape(*x.shape[:-1], 3, 2))


def mean_phi() -> torch.Tensor:
    """IEF start: an upright body facing the camera (root = pi about x: SMPL Y-up to OpenCV Y-down),
    rest pose, mean shape, a body filling the crop (s = 0.9), centred."""
    R = torch.eye(3).repeat(NUM_JOINTS, 1, 1)
    R[0] = torch.tensor([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
    return torch.cat([rotmat_to_6d(R).reshape(-1), torch.zeros(BETA_DIM), torch.tensor([0.9, 0.0, 0.0])])


def decode_phi(phi: torch.Tensor) -> dict[str, torch.Tensor]:
    """(..., 157) -> rotmat (..., 24, 3, 3), theta axis-angle (..., 72), beta (..., 10), cam (..., 3)."""
    rotmat = sixd_to_rotmat(phi[..., :POSE_DIM].reshape(*phi.shape[:-1], NUM_JOINTS, 6))
    theta = roma.rotmat_to_rotvec(rotmat.float()).reshape(*phi.shape[:-1], NUM_JOINTS * 3)
    return {
        "phi": phi,
        "rotmat": rotmat,
        "theta": theta,
        "beta": phi[..., POSE_DIM : POSE_DIM + BETA_DIM],
        "cam": phi[..., -CAM_DIM:],
    }


def _imagenet_file(backbone: str) -> Path:
    """torchvision's ImageNet checkpoint for this backbone if it is already on disk (never downloads)."""
    found = sorted((Path(torch.hub.get_dir()) / "checkpoints").glob(f"{backbone}-*.pth"))
    if not found:
        raise SynthError(
            f"no ImageNet weights for {backbone} in the torch hub cache",
            path=Path(torch.hub.get_dir()) / "checkpoints",
            fix="pass --weights PATH to a torchvision state dict, or omit it for random initialisation",
        )
    return found[0]


class Encoder(nn.Module):
    """ResNet trunk: global feature E(I) (avg-pooled last stage) and a low-level feature map."""

    def __init__(self, backbone: str = "resnet50", weights: str = "", attention_layer: str = "layer2"):
        super().__init__()
        import torchvision

        if not hasattr(torchvision.models, backbone) or not backbone.startswith("resnet"):
            raise SynthError(f"unknown backbone {backbone!r}", fix="use resnet18, resnet34 or resnet50")
        net = getattr(torchvision.models, backbone)(weights=None)
        if weights:
            path = _imagenet_file(backbone) if weights == "imagenet" else Path(weights)
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except (OSError, RuntimeError) as exc:
                raise SynthError(
                    f"cannot read encoder weights ({exc})", path=path, fix="pass a torchvision ResNet state dict"
                ) from exc
            missing, unexpected = net.load_state_dict(state, strict=False)
            bad = [k for k in missing + unexpected if not k.startswith("fc.")]
            if bad:
                raise SynthError(
                    f"weights do not fit {backbone}: {bad[:4]}", path=path, fix=f"pass {backbone} ImageNet weights"
                )
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layers = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        self.low_index = ["layer1", "layer2", "layer3", "layer4"].index(attention_layer)
        self.feat_dim = net.fc.in_features
        self.low_dim = _out_channels(self.layers[self.low_index])

        self.to(memory_format=torch.channels_last)  # NHWC: the layout oneDNN and cuDNN convolutions run fastest in

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(N,3,H,W) -> feat (N, F), low (N, C, h, w), and the four stages' maps (layer1..layer4)."""
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        maps = []
        for layer in self.layers:
            x = layer(x)
            maps.append(x)
        return x.mean((2, 3)), maps[self.low_index], maps


def _out_channels(layer: nn.Sequential) -> int:
    block = layer[-1]
    return (block.conv3 if hasattr(block, "conv3") else block.conv2).out_channels


class PartHead(nn.Module):
    """Per-pixel bone-part logits (train/data.py `bone_part_labels`) at the stem's grid (input / 4), summed
    from 1x1 convolutions of layer2, layer3 and layer4 (FCN-8s style); with `classes` = 24 the same trunk
    gives the joint head's heatmaps (HMR, model.joint_head). It is a training signal: a
    from-scratch backbone gets a label for every pixel instead of 24 joints, and left/right parts tell
    front from back, which the pooled feature E(I) that the regressor reads must then encode."""

    def __init__(self, channels: list[int], classes: int):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(c, classes, 1) for c in channels[1:]])

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """maps of layer1..layer4 -> (N, classes, h1, w1) logits on layer1's grid."""
        size = maps[0].shape[-2:]
        return sum(
            nn.functional.interpolate(conv(m), size=size, mode="bilinear", align_corners=False)
            for conv, m in zip(self.convs, maps[1:])
        )


def soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """(N, J, h, w) heatmap logits -> (N, J, 2) expected (x, y) of the pixel centres in crop units [-1, 1]
    (the loader's j2d frame): differentiable, so an L1 on it trains the heatmaps (integral regression)."""
    N, J, h, w = logits.shape
    prob = torch.softmax(logits.float().flatten(2), -1).reshape(N, J, h, w)
    xs = (2 * torch.arange(w, device=logits.device, dtype=prob.dtype) + 1) / w - 1
    ys = (2 * torch.arange(h, device=logits.device, dtype=prob.dtype) + 1) / h - 1
    return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], -1)


class IEFRegressor(nn.Module):
    """phi = phi_0 + sum of `iters` corrections, each from an MLP on [feature, current phi]."""

    def __init__(self, feat_dim: int, width: int = 1024, iters: int = 3, dropout: float = 0.5):
        super().__init__()
        self.iters = iters
        self.mlp = nn.Sequential(
            nn.Linear(feat_dim + PHI_DIM, width),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.out = nn.Linear(width, PHI_DIM)
        nn.init.xavier_uniform_(self.out.weight, gain=0.01)
        nn.init.zeros_(self.out.bias)
        self.register_buffer("mean", mean_phi())

    def forward(self, feat: torch.Tensor, phi0: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.mean.expand(len(feat), -1) if phi0 is None else phi0
        for _ in range(self.iters):
            phi = phi + self.out(self.mlp(torch.cat([feat, phi], -1)))
        return phi


class HMR(nn.Module):
    """The frame model: every frame on its own, E(I_t) -> IEF -> phi_t."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.backbone, cfg.weights, cfg.attention_layer)
        channels = [_out_channels(layer) for layer in self.encoder.layers]
        self.part_head = PartHead(channels, PART_CLASSES) if cfg.part_head else None
        # The pooled E(I) of a 2x2 layer4 map (64 px crops) keeps no layout: where the limbs are must come
        # from somewhere else. The joint head's heatmaps live on the stem's grid and their soft-argmax
        # coordinates go to the regressor beside E(I), as 2D keypoints feed a lifting network.
        self.joint_head = PartHead(channels, NUM_JOINTS) if cfg.joint_head else None
        self.feat_dim = self.encoder.feat_dim + (2 * NUM_JOINTS if cfg.joint_head else 0)
        self.regressor = IEFRegressor(self.feat_dim, cfg.regressor_width, cfg.ief_iters, cfg.dropout)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], dict]:
        """(N,3,H,W) -> the regressor's feature (N, feat_dim), the low map, the stage maps, and
        {"j2d_heat": (N, 24, 2)} when the model has a joint head."""
        feat, low, maps = self.encoder(images)
        feat = feat.float()
        if self.joint_head is None:
            return feat, low, maps, {}
        j2d = soft_argmax(self.joint_head(maps))
        return torch.cat([feat, j2d.flatten(1)], -1), low, maps, {"j2d_heat": j2d}

    def parts_out(self, maps: list[torch.Tensor], B: int, T: int) -> dict[str, torch.Tensor]:
        """{"part_logits": (B,T,classes,h,w)} when the model has a part head, else {}."""
        if self.part_head is None:
            return {}
        logits = self.part_head(maps)
        return {"part_logits": logits.reshape(B, T, *logits.shape[1:])}

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (B,T,3,H,W) -> decode_phi outputs shaped (B,T,...)."""
        B, T = images.shape[:2]
        feat, _, maps, extra = self.encode(images.flatten(0, 1))
        phi = self.regressor(feat)
        out = decode_phi(phi.reshape(B, T, PHI_DIM)) | self.parts_out(maps, B, T)
        return out | {k: v.reshape(B, T, *v.shape[1:]) for k, v in extra.items()}


class MVIPER(HMR):
    """The video model: the shared encoder and regressor inside an LSTM.

    Step t: attention over the low-level map V_t, alpha = softmax(w^T tanh(W_v v_i + W_h h_{t-1})),
    z_t = sum_i alpha_i v_i; (h_t, c_t) = LSTM([E(I_t), z_t, phi_{t-1}], (h_{t-1}, c_t-1));
    phi_t = IEF(E(I_t) + P h_t). (c_0, h_0) come from a two-hidden-layer MLP on E(I_1), phi_0 is the
    mean. P is zero-initialised, so a model loaded from HMR starts exactly at HMR's predictions.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        F, C, H, A = self.feat_dim, self.encoder.low_dim, cfg.hidden, cfg.attention_dim
        self.att_v = nn.Linear(C, A)
        self.att_h = nn.Linear(H, A, bias=False)
        self.att_w = nn.Linear(A, 1)
        self.lstm = nn.LSTMCell(F + C + PHI_DIM, H)
        W = cfg.init_width
        self.init_state = nn.Sequential(nn.Linear(F, W), nn.ReLU(), nn.Linear(W, W), nn.ReLU(), nn.Linear(W, 2 * H))
        self.to_feat = nn.Linear(H, F)
        nn.init.zeros_(self.to_feat.weight)
        nn.init.zeros_(self.to_feat.bias)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        B, T = images.shape[:2]
        feat, low, maps, extra = self.encode(images.flatten(0, 1))
        feat = feat.reshape(B, T, -1)
        h_map, w_map = low.shape[-2:]
        v = low.float().flatten(2).transpose(1, 2).reshape(B, T, h_map * w_map, -1)  # (B,T,N,C)
        keys = self.att_v(v)
        h, c = self.init_state(feat[:, 0]).chunk(2, -1)
        phi = self.regressor.mean.expand(B, -1)
        phis, alphas = [], []
        for t in range(T):
            e = self.att_w(torch.tanh(keys[:, t] + self.att_h(h)[:, None])).squeeze(-1)
            alpha = torch.softmax(e, -1)
            z = (alpha[..., None] * v[:, t]).sum(1)
            h, c = self.lstm(torch.cat([feat[:, t], z, phi], -1), (h, c))
            phi = self.regressor(feat[:, t] + self.to_feat(h))
            phis.append(phi)
            alphas.append(alpha)
        out = decode_phi(torch.stack(phis, 1))
        out["attention"] = torch.stack(alphas, 1).reshape(B, T, h_map, w_map)
        out |= {k: v.reshape(B, T, *v.shape[1:]) for k, v in extra.items()}
        return out | self.parts_out(maps, B, T)


def build_model(kind: str, cfg: ModelConfig) -> HMR:
    if kind == "hmr":
        return HMR(cfg)
    if kind == "mviper":
        return MVIPER(cfg)
    raise SynthError(f"unknown model {kind!r}", fix="use 'hmr' or 'mviper'")
